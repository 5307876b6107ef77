# Trendy: the routine commands. `make run` and `make test` are the two a new user needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format check worker beat migrate seed kernels bench messages clean

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
	$(VENV)/bin/celery -A trading_site worker --beat --pool solo --loglevel info >var/worker.log 2>&1 & worker=$$!; \
	$(PY) manage.py runserver $(HOST):$(PORT)

# The whole test suite, with lint and migration checks. Uses PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set.
test: install lint check
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

worker: install
	$(VENV)/bin/celery -A trading_site worker --loglevel info

beat: install
	$(PY) manage.py setup_periodic_tasks
	$(VENV)/bin/celery -A trading_site beat --loglevel info

bench: install
	$(PY) benchmarks/market_data.py

# Refresh the translation catalogues after changing user-facing strings (needs GNU gettext).
messages: install
	$(PY) manage.py makemessages -l ko --ignore=.venv --ignore=staticfiles --ignore=benchmarks --ignore=tests
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var staticfiles
