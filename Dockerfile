# syntax=docker/dockerfile:1
# Trendy's production image: granian serving Django on port 8000; the same image runs the
# Celery worker and beat (see docker-compose.yml).
#
#   docker build -t trendy .
#   docker run -p 8000:8000 -e DJANGO_SECRET_KEY=... -e TRENDY_ENCRYPTION_KEYS=... \
#     -e DJANGO_ALLOWED_HOSTS=trendy.example.com -e DATABASE_URL=postgres://... -e REDIS_URL=redis://... trendy

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: compilers and headers, a virtualenv with every requirement ----------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpq-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip \
 && pip install -r /tmp/requirements.txt

# --- assets: collectstatic (hashed, compressed for WhiteNoise) and compiled translations ---
FROM builder AS assets
RUN apt-get update \
 && apt-get install -y --no-install-recommends gettext \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# The settings refuse to start with DEBUG off and no secrets; these dummies exist only in this
# throw-away stage, for the commands below. The runtime image never sees them.
ARG DJANGO_DEBUG=0
ARG DJANGO_SECRET_KEY=collectstatic-only-build-time-dummy-not-a-secret
ARG DJANGO_ALLOWED_HOSTS=localhost
ARG TRENDY_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
ARG REDIS_URL=redis://localhost:6379/0
RUN mkdir -p locale \
 && python manage.py collectstatic --noinput \
 && if find . -name '*.po' -not -path './static/*' | grep -q .; then \
      python manage.py compilemessages --ignore=static --ignore=staticfiles; \
    fi

# --- runtime: slim Python, the virtualenv, the code, the static files; no compilers --------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_DEBUG=0 \
    TRENDY_VAR_DIR=/app/var \
    NUMBA_CACHE_DIR=/app/numba-cache
# psycopg-binary, numpy, pandas and cryptography bring their own shared libraries in their
# wheels, so the runtime needs no extra Debian packages.
RUN groupadd --system --gid 10001 trendy \
 && useradd --system --uid 10001 --gid trendy --create-home --home-dir /home/trendy --shell /usr/sbin/nologin trendy
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY . .
COPY --from=assets /app/staticfiles /app/staticfiles
COPY --from=assets /app/locale /app/locale
# The code stays root-owned and read-only for the app; only var/ (Celery's file broker and
# other local state when no REDIS_URL is set; models/, the trained models, a shared volume in compose) is writable.
# Compile the numba kernels at build time, so no worker or request pays the multi-second compile:
# processes load the machine code from NUMBA_CACHE_DIR in about 0.3 s.
# The bundled candle sample must be in the image (seed_demo falls back to it with no candle folder and
# no exchange): the build stops if .dockerignore ever drops it.
RUN python -c "from strategies.warmup import warm_up; print(f'numba kernels compiled in {warm_up():.1f} s')" \
 && test -s /app/market_data/sample/binance_BTCUSDT_1h.csv.gz \
 && test -s /app/market_data/sample/binance_ETHUSDT_1h.csv.gz \
 && mkdir -p /app/var/models \
 && chown -R trendy:trendy /app/var \
 && chmod 0755 /app/scripts/docker-entrypoint.sh
USER trendy:trendy
EXPOSE 8000
# /readyz answers 200 when the database, cache and broker are reachable (/healthz: the process answers). The request carries
# the first DJANGO_ALLOWED_HOSTS entry as its Host header, so ALLOWED_HOSTS need not list 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, sys, urllib.request as r; h = (os.environ.get('DJANGO_ALLOWED_HOSTS') or '').split(',')[0].strip().lstrip('.'); h = h if h and h != '*' else '127.0.0.1'; sys.exit(0 if r.urlopen(r.Request('http://127.0.0.1:8000/readyz', headers={'Host': h}), timeout=4).status == 200 else 1)"
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
# The web server: granian, Django as a WSGI app (trading_site.wsgi, whose TradingView receiver skips the
# middleware an API answer does not need) behind granian's Rust HTTP/1.1 stack. Chosen by measurement
# (benchmarks/RESULTS.md, "TradingView webhook receiver", issue 14): on one pinned core it answered the most
# alerts per second at the lowest p99 of the servers compared (gunicorn sync and gthread, granian WSGI and
# ASGI, uvicorn), and the most bare requests per second; the ASGI servers run Django's synchronous views
# through a thread hop and came last. WSGI keeps every view, middleware and database connection as they are.
# Three worker processes of four threads each (a slow exchange call in one request does not hold the others).
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "3", "--blocking-threads", "4", "--runtime-threads", "1", "--access-log", "trading_site.wsgi:application"]
