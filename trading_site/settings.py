"""Trendy's settings: one module, configured by the environment.

Every variable is listed in the README's configuration table. With nothing set, Trendy runs
on the embedded defaults (SQLite, a file-system Celery broker, local-memory cache); with
``DATABASE_URL`` and ``REDIS_URL`` it runs on PostgreSQL and Redis.

Why this file is long: Django reads one settings module; every environment variable is parsed here, next to
the setting it drives."""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url
from csp.constants import NONCE as CSP_NONCE
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from trading_site.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TRENDY_VAR_DIR", str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#core-settings

DEBUG = env_bool("DJANGO_DEBUG", default=True)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-trendy-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the site's host names when DJANGO_DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entry {_origin!r} must start with http:// or https://.")

INSTALLED_APPS = [
    "daphne",  # first: `runserver` serves ASGI, so the live stream's WebSocket works in development too
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "trading_site.third_party_apps.AllauthAccountConfig",  # allauth.account, named for the admin
    "trading_site.third_party_apps.AllauthMFAConfig",  # allauth.mfa
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "trading_site.third_party_apps.CeleryBeatConfig",  # django_celery_beat
    "django_htmx",
    "csp",
    "accounts",
    "market_data",
    "strategies",
    "trading",
    "webhooks",
    "marketplace",
    "analytics",
    "notifications",
    "onboarding",
    "trading_site",
]

MIDDLEWARE = [
    # A request id on every log line of the request, with the user's id, and in X-Request-ID: request_context.py
    "trading_site.request_context.RequestIdMiddleware",
    # trendy_http_request_duration_seconds (by route name and status class): trading_site/request_metrics.py
    "trading_site.request_metrics.RequestDurationMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # 413 above the body limit, chunked bodies included (and chunked bodies read at all): trading_site/request_size.py
    "trading_site.request_size.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "trading_site.security_headers.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "trading_site.urls"
WSGI_APPLICATION = "trading_site.wsgi.application"
ASGI_APPLICATION = "trading_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trading.context_processors.market_clock",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases

_DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
try:
    _db = dj_database_url.parse(_DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
except (ValueError, KeyError) as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL Trendy understands: {exc}") from exc
_PROMETHEUS_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
if _db["ENGINE"] not in _PROMETHEUS_ENGINES:
    raise ImproperlyConfigured(f"DATABASE_URL must be postgres:// or sqlite://, not {_db['ENGINE']}.")
_db["ENGINE"] = _PROMETHEUS_ENGINES[_db["ENGINE"]]
if "sqlite3" in _db["ENGINE"]:
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
_db["CONN_HEALTH_CHECKS"] = True
_db["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME") or None}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis --------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/cache/#redis

REDIS_URL = env_str("REDIS_URL")
if not DEBUG and not REDIS_URL:
    # Rate limits, used-TOTP-code records and throttles must be shared by every worker process.
    raise ImproperlyConfigured("REDIS_URL must be set when DJANGO_DEBUG is off (the cache is shared state).")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or unix://.")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "trendy"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache",
            "LOCATION": "trendy",
        }
    }

# --- Live stream (Django Channels: /ws/v1/stream) --------------------------------------
# Each user's events go to a group on the channel layer: Redis when REDIS_URL is set (every web and worker process
# shares it), in-process memory otherwise (one process: `make run` without Redis).
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, as long as channels_redis' blocking
                # read of a process's messages (BZPOPMIN, 5 s): an idle connection would time out and drop every
                # WebSocket of the process. The read waits longer than the blocking call.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": env_str("CACHE_KEY_PREFIX", "trendy") + ":stream",
                "capacity": 1000,  # messages a slow client may fall behind before the oldest are dropped
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Authentication (allauth, MFA) ------------------------------------------------------
# https://docs.allauth.org/en/latest/account/configuration.html

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
if ACCOUNT_EMAIL_VERIFICATION not in {"mandatory", "optional", "none"}:
    raise ImproperlyConfigured("ACCOUNT_EMAIL_VERIFICATION must be mandatory, optional or none.")
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Trendy] "
ACCOUNT_PREVENT_ENUMERATION = True
# Failed sign-ins are limited by accounts/sign_in_limits.py (atomic counters, for this login and the API alike);
# allauth's own "login_failed" limit is off so that one address cannot lock an account out.
ACCOUNT_RATE_LIMITS = {"login_failed": ""}
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
TRENDY_NUM_PROXIES = env_int("TRENDY_NUM_PROXIES", 0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRENDY_NUM_PROXIES
MFA_ADAPTER = "accounts.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Trendy"

# --- Secrets at rest --------------------------------------------------------------------
# Comma-separated base64 32-byte keys; the first encrypts, all decrypt (see accounts/crypto.py).


def _read_encryption_keys() -> list[bytes]:
    keys: list[bytes] = []
    for index, item in enumerate(env_list("TRENDY_ENCRYPTION_KEYS")):
        try:
            key = base64.b64decode(item, validate=True)
        except ValueError:
            raise ImproperlyConfigured(f"TRENDY_ENCRYPTION_KEYS entry {index + 1} is not valid base64.") from None
        if len(key) != 32:
            raise ImproperlyConfigured(
                f"TRENDY_ENCRYPTION_KEYS entry {index + 1} decodes to {len(key)} bytes; AES-256 needs 32."
            )
        keys.append(key)
    if keys:
        return keys
    if not DEBUG:
        raise ImproperlyConfigured(
            "TRENDY_ENCRYPTION_KEYS must be set when DJANGO_DEBUG is off "
            '(generate one with: python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())").'
        )
    sys.stderr.write(
        "WARNING: TRENDY_ENCRYPTION_KEYS is not set: secrets are encrypted with a development key derived "
        "from DJANGO_SECRET_KEY. Never run real money on it.\n"
    )
    return [hashlib.sha256(b"trendy-dev-encryption-key:" + SECRET_KEY.encode()).digest()]


TRENDY_ENCRYPTION_KEYS = _read_encryption_keys()

# --- REST API ---------------------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "trading_site.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "600/min"),
        "auth": env_str("API_THROTTLE_AUTH", "10/min"),
        "backtests": env_str("API_THROTTLE_BACKTESTS", "60/min"),
        "analytics": env_str("API_THROTTLE_ANALYTICS", "120/min"),
    },
    "EXCEPTION_HANDLER": "trading_site.api.exception_handler",
    # Proxies in front of Trendy whose X-Forwarded-For is trusted; 0 = the client's own address only,
    # so a forged header cannot dodge the rate limits.
    "NUM_PROXIES": env_int("TRENDY_NUM_PROXIES", 0),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trendy API",
    "DESCRIPTION": "Trendy's REST API for the mobile app and integrations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "BacktestStatusEnum": "strategies.models.BacktestRun.Status",
        "ListingStatusEnum": "marketplace.models.Listing.Status",
        "SubscriptionStatusEnum": "marketplace.models.Subscription.Status",
        "KindEnum": "strategies.models.BacktestRun.Kind",  # the name it had before other "kind" fields
        "NotificationChannelKindEnum": "notifications.models.Channel.Kind",
        "AddableChannelKindEnum": ["email", "slack", "webpush"],
        "LanguageEnum": ["en", "ko"],  # LANGUAGES below
    },
    # Swagger UI is served from our own static files (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The API is JSON: the schema documents JSON bodies only (the form parsers stay for the browsable API).
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "trading_site.openapi.document_errors",
    ],
}
TRENDY_API_TOKEN_TTL_DAYS = env_int("TRENDY_API_TOKEN_TTL_DAYS", 90)

# --- Celery -----------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    # Embedded default: a file-system broker needs no server; `make run` starts one worker
    # with embedded beat beside runserver.
    _broker_dir = VAR_DIR / "celery"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{_broker_dir / 'results'}"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-beat's DatabaseScheduler with a heartbeat in the cache (trading_site/beat.py).
CELERY_BEAT_SCHEDULER = "trading_site.beat:HeartbeatScheduler"
CELERY_TIMEZONE = "UTC"
# The trading loop's queues, one per exchange (README "Workers and queues"): the tick, its signal tasks and the
# paper shards on trading.paper; each live bot's tick on trading.<its exchange> (named by the loop when it sends
# one, trading.other for an exchange without a queue of its own). Every other task stays on "celery".
TRENDY_TRADING_QUEUES = env_list("TRENDY_TRADING_QUEUES", ["paper", "binance", "okx"])
# Every queue is declared: a worker started without -Q consumes all of them (as make run, the tests' workers and an
# operator's plain `celery worker` do), so no trading task waits on a queue nobody reads; -Q splits them at scale.
CELERY_TASK_QUEUES = [
    Queue(name)
    for name in dict.fromkeys(
        [
            "celery",
            *(f"trading.{q}" for q in ["paper", *TRENDY_TRADING_QUEUES]),
            "trading.other",
            "analytics",
            "notifications",
        ]
    )
]
CELERY_TASK_ROUTES = {
    "trading.tick": {"queue": "trading.paper"},
    "trading.loop_start": {"queue": "trading.paper"},
    "trading.loop_signals": {"queue": "trading.paper"},
    "trading.loop_dispatch": {"queue": "trading.paper"},
    "trading.loop_shard": {"queue": "trading.paper"},
    "trading.run_bot_tick": {"queue": "trading.paper"},
    # Model training (minutes of CPU a night) on its own queue, so it never delays a trading tick.
    "analytics.train_regime_models": {"queue": "analytics"},
    "analytics.train_regime_model": {"queue": "analytics"},
    "analytics.train_forecast_model": {"queue": "analytics"},
    "analytics.train_signal_model": {"queue": "analytics"},
    "analytics.record_signals": {"queue": "analytics"},
    "analytics.refresh_sentiment": {"queue": "analytics"},
    # Messages to e-mail, Telegram, Slack and push services: a slow service delays no trading or analytics task.
    "notifications.dispatch": {"queue": "notifications"},
    "notifications.send": {"queue": "notifications"},
    "notifications.flush_digests": {"queue": "notifications"},
    "notifications.telegram_reply": {"queue": "notifications"},
}
# One tick: the paper accounts in this many shards (a task each; more shards than workers balance them), a
# transaction per chunk of this many accounts; the signals in this many tasks (slices of markets).
TRENDY_LOOP_SHARDS = env_int("TRENDY_LOOP_SHARDS", 8)
TRENDY_LOOP_CHUNK = env_int("TRENDY_LOOP_CHUNK", 500)
TRENDY_LOOP_SIGNAL_TASKS = env_int("TRENDY_LOOP_SIGNAL_TASKS", 4)
# Markets whose closed candles the beat keeps fetching: "binance:BTC/USDT:1h,okx:ETH/USDT:1h".
TRENDY_MARKET_FEEDS = env_list("TRENDY_MARKET_FEEDS")

# --- Pine Script ------------------------------------------------------------------------

# One run of a stored script (a backtest's compile, a bot's tick): its budget in seconds and in interpreter steps.
# A script over it stops with a sentence (an endless while, a huge for), never a hung worker.
TRENDY_PINE_MAX_SECONDS = float(env_str("TRENDY_PINE_MAX_SECONDS", "5"))
TRENDY_PINE_MAX_STEPS = env_int("TRENDY_PINE_MAX_STEPS", 20_000_000)
# Warm the Pine parser at start (Celery workers before they fork, web processes in a thread): about 20 s of CPU once.
TRENDY_PINE_WARM_UP = env_bool("TRENDY_PINE_WARM_UP", default=True)

# --- Marketplace payments ---------------------------------------------------------------

# Who takes payments for premium and pro listings: "test" (the embedded test-mode provider: the same events, code
# and ledger as Stripe, and no money moves), "stripe" (Stripe Checkout; needs the two keys below) or "off" (only
# free listings can be taken). The default is "test" in debug and "off" with DJANGO_DEBUG=0.
TRENDY_PAYMENTS = env_str("TRENDY_PAYMENTS", "test" if DEBUG else "off")
if TRENDY_PAYMENTS not in ("test", "stripe", "off"):
    raise ImproperlyConfigured("TRENDY_PAYMENTS is test, stripe or off.")
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")  # empty: Stripe's own; tests point it at a fake on 127.0.0.1
if TRENDY_PAYMENTS == "stripe" and not (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET):
    raise ImproperlyConfigured("TRENDY_PAYMENTS=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.")
# The creator's share of each payment (Trendy keeps the rest); each ledger entry stores the share in force.
TRENDY_CREATOR_SHARE = env_str("TRENDY_CREATOR_SHARE", "0.70")

# --- Market intelligence (regime models, forecasts) ------------------------------------------

# Trained model files (joblib); web and worker processes must share this folder (a volume in docker-compose.yml).
TRENDY_MODEL_DIR = Path(env_str("TRENDY_MODEL_DIR", str(VAR_DIR / "models")))
# Days of candles a regime model learns from, and the markets the nightly retrain covers ("binance:BTC/USDT:1h,…";
# empty: every stored 1h and 1d series of the paper data exchange with a year of candles), at most this many.
TRENDY_REGIME_DAYS = env_int("TRENDY_REGIME_DAYS", 3 * 365)
TRENDY_REGIME_MARKETS = env_list("TRENDY_REGIME_MARKETS")
TRENDY_REGIME_MAX_MARKETS = env_int("TRENDY_REGIME_MAX_MARKETS", 20)
# Published marketplace strategies backtested beside the built-ins for the regime evidence, per market (Pine runs
# cost seconds each: a bounded number, most subscribed first).
TRENDY_REGIME_EVIDENCE_LISTINGS = env_int("TRENDY_REGIME_EVIDENCE_LISTINGS", 5)
# Sentiment sources read every 15 minutes: "news,reddit,x" (none by default: a checkout and the tests never reach
# the internet; docker-compose.yml turns news and Reddit on). X needs its API's bearer token as well.
TRENDY_SENTIMENT_SOURCES = env_list("TRENDY_SENTIMENT_SOURCES")
if set(TRENDY_SENTIMENT_SOURCES) - {"news", "reddit", "x"}:
    raise ImproperlyConfigured("TRENDY_SENTIMENT_SOURCES lists news, reddit and x only.")
TRENDY_X_BEARER_TOKEN = env_str("TRENDY_X_BEARER_TOKEN")
# "Name=https://…/rss,…" replaces the default feeds (CoinDesk, CoinTelegraph, CryptoSlate); subreddits likewise.
TRENDY_SENTIMENT_FEEDS = dict(item.split("=", 1) for item in env_list("TRENDY_SENTIMENT_FEEDS") if "=" in item)
TRENDY_SENTIMENT_SUBREDDITS = env_list("TRENDY_SENTIMENT_SUBREDDITS")
TRENDY_SENTIMENT_ASSETS = env_list("TRENDY_SENTIMENT_ASSETS")  # base assets; none: those of the stored markets
TRENDY_SENTIMENT_TIMEOUT = env_str("TRENDY_SENTIMENT_TIMEOUT", "10")
TRENDY_SENTIMENT_RETRIES = env_int("TRENDY_SENTIMENT_RETRIES", 3)  # further tries of a failed request, with backoff
# Seconds between two Reddit requests: its public JSON allows about 10 a minute without OAuth.
TRENDY_REDDIT_MIN_INTERVAL = env_str("TRENDY_REDDIT_MIN_INTERVAL", "6")
TRENDY_REDDIT_URL = env_str("TRENDY_REDDIT_URL")  # empty: https://www.reddit.com (tests: a fake on 127.0.0.1)
TRENDY_X_API_URL = env_str("TRENDY_X_API_URL")  # empty: https://api.x.com
# Language model commentators (configured in the admin) may be asked at loopback and private addresses, such as a
# local Llama server: allowed in development; in production only when set (otherwise a base URL that resolves to
# such an address is refused, so the admin form cannot reach the internal network or a cloud metadata address).
TRENDY_LLM_ALLOW_PRIVATE = env_bool("TRENDY_LLM_ALLOW_PRIVATE", default=DEBUG)

# --- Notifications ----------------------------------------------------------------------

# Telegram: the operator's bot (@BotFather gives the token). Users link a chat by sending it /start <code>; Telegram
# calls /hooks/telegram/ with TRENDY_TELEGRAM_WEBHOOK_SECRET in X-Telegram-Bot-Api-Secret-Token (setWebhook).
# Links in e-mails and messages point here (no request to build them from in a worker).
TRENDY_SITE_URL = env_str("TRENDY_SITE_URL", "http://localhost:8000")
TRENDY_TELEGRAM_BOT_TOKEN = env_str("TRENDY_TELEGRAM_BOT_TOKEN")
TRENDY_TELEGRAM_BOT_NAME = env_str("TRENDY_TELEGRAM_BOT_NAME")  # without the @, for the t.me link
TRENDY_TELEGRAM_WEBHOOK_SECRET = env_str("TRENDY_TELEGRAM_WEBHOOK_SECRET")
TRENDY_TELEGRAM_API_URL = env_str("TRENDY_TELEGRAM_API_URL")  # empty: https://api.telegram.org (tests: a fake)
# Web push: the server's VAPID key pair (`vapid --gen`, or manage.py vapid_keys), and a contact for push services.
TRENDY_VAPID_PRIVATE_KEY = env_str("TRENDY_VAPID_PRIVATE_KEY")
TRENDY_VAPID_PUBLIC_KEY = env_str("TRENDY_VAPID_PUBLIC_KEY")
TRENDY_VAPID_SUBJECT = env_str("TRENDY_VAPID_SUBJECT", "mailto:ops@trendy.local")
# Mobile push: a Firebase service account's JSON key (the file's content, or a path to it).
TRENDY_FCM_SERVICE_ACCOUNT = env_str("TRENDY_FCM_SERVICE_ACCOUNT")
TRENDY_FCM_API_URL = env_str("TRENDY_FCM_API_URL")  # empty: https://fcm.googleapis.com (tests: a fake)
# Slack webhooks and push endpoints must be the services' own public addresses in production; development and the
# tests send them to fakes on 127.0.0.1.
TRENDY_NOTIFY_ALLOW_PRIVATE = env_bool("TRENDY_NOTIFY_ALLOW_PRIVATE", default=DEBUG)
# Retries: the n-th waits base * 2^(n-1) seconds (at most an hour), up to this many attempts in all.
TRENDY_NOTIFY_RETRY_BASE = env_float("TRENDY_NOTIFY_RETRY_BASE", 30.0)
TRENDY_NOTIFY_MAX_ATTEMPTS = env_int("TRENDY_NOTIFY_MAX_ATTEMPTS", 6)
# Bursts: after a message, a channel's next ones within this many seconds go together as one digest.
TRENDY_NOTIFY_DIGEST_WINDOW = env_float("TRENDY_NOTIFY_DIGEST_WINDOW", 60.0)

# --- Market data ------------------------------------------------------------------------

TRENDY_OHLCV_DIR = Path(env_str("TRENDY_OHLCV_DIR", str(BASE_DIR.parent / "shared" / "data" / "ohlcv")))

# --- Trading ----------------------------------------------------------------------------

# Where paper accounts take their prices: the stored (and fetched) candles of this exchange.
TRENDY_PAPER_DATA_EXCHANGE = env_str("TRENDY_PAPER_DATA_EXCHANGE", "binance")
# Paper fills: fee per side and slippage, the backtest's defaults.
TRENDY_PAPER_FEE_RATE = env_str("TRENDY_PAPER_FEE_RATE", "0.001")
TRENDY_PAPER_SLIPPAGE_BPS = env_str("TRENDY_PAPER_SLIPPAGE_BPS", "5")
# Slippage the router assumes when it sizes an order on a real exchange.
TRENDY_LIVE_SLIPPAGE_BPS = env_str("TRENDY_LIVE_SLIPPAGE_BPS", "5")
# API base URL overrides per exchange id ("binance=http://127.0.0.1:9000,okx=…"): a proxy, or a fake exchange.
TRENDY_EXCHANGE_API_URLS = dict(item.split("=", 1) for item in env_list("TRENDY_EXCHANGE_API_URLS") if "=" in item)
# A bot whose exchange fails this many times in a row (time-outs, 5xx, 429; retried 1 s … 5 min apart) halts.
TRENDY_BOT_MAX_TRANSIENT_FAILURES = env_int("TRENDY_BOT_MAX_TRANSIENT_FAILURES", 10)

# --- Webhook receiver: requests that do not authenticate (README "Security") -------------
# Per minute, refused requests from one address (TradingView's own addresses excepted) and to one webhook URL;
# beyond them the receiver answers 429 and stores nothing. Per hour, refused rows kept per webhook (the rest
# are only counted). Refused events are deleted after this many days (the beat's "prune refused webhook events").
TRENDY_WEBHOOK_REFUSED_PER_IP = env_int("TRENDY_WEBHOOK_REFUSED_PER_IP", 30)
TRENDY_WEBHOOK_REFUSED_PER_URL = env_int("TRENDY_WEBHOOK_REFUSED_PER_URL", 30)
TRENDY_WEBHOOK_REFUSED_ROWS_PER_HOUR = env_int("TRENDY_WEBHOOK_REFUSED_ROWS_PER_HOUR", 100)
TRENDY_WEBHOOK_REFUSED_RETENTION_DAYS = env_int("TRENDY_WEBHOOK_REFUSED_RETENTION_DAYS", 14)

# --- E-mail -----------------------------------------------------------------------------
# EMAIL_URL: smtp://user:password@host:587 (STARTTLS), smtps://…:465 (TLS), console://, locmem://


def _email_settings(url: str) -> dict[str, object]:
    if not url:
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parsed = urlparse(url)
    backends = {
        "console": "django.core.mail.backends.console.EmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
        "smtp": "django.core.mail.backends.smtp.EmailBackend",
        "smtps": "django.core.mail.backends.smtp.EmailBackend",
    }
    if parsed.scheme not in backends:
        raise ImproperlyConfigured(f"EMAIL_URL scheme {parsed.scheme!r} must be one of: {', '.join(backends)}.")
    result: dict[str, object] = {"EMAIL_BACKEND": backends[parsed.scheme]}
    if parsed.scheme.startswith("smtp"):
        query = parse_qs(parsed.query)
        result.update(
            EMAIL_HOST=parsed.hostname or "localhost",
            EMAIL_PORT=parsed.port or (465 if parsed.scheme == "smtps" else 587),
            EMAIL_HOST_USER=unquote(parsed.username or ""),
            EMAIL_HOST_PASSWORD=unquote(parsed.password or ""),
            EMAIL_USE_SSL=parsed.scheme == "smtps",
            EMAIL_USE_TLS=parsed.scheme == "smtp" and query.get("tls", ["1"])[0] != "0",
            EMAIL_TIMEOUT=10,
        )
    return result


EMAIL_URL = env_str("EMAIL_URL")
globals().update(_email_settings(EMAIL_URL))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Trendy <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation ---------------------------------------------------------------
# Times are stored in UTC and shown in the user's time zone (accounts.middleware).

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date style per language and grouped thousands (trading_site/formats/<lang>/formats.py). Numbers in
# templates go through trading_site/templatetags/trendy.py; USE_THOUSAND_SEPARATOR stays off so that ids
# rendered into URLs and attributes are never grouped.
FORMAT_MODULE_PATH = ["trading_site.formats"]

# --- Static files -----------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security ---------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie (the token goes in hx-headers), but JS clients may.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content Security Policy (django-csp): every script and style is a file Trendy serves itself. An inline
# <script> runs only with the request's nonce ({{ request.csp_nonce }}; the header names it only on pages that
# use it); nothing is eval'd (htmx runs with allowEval off); no inline style at all, but for the one <style>
# element Lightweight Charts adds for the TradingView attribution its licence asks us to keep, allowed by
# its exact hash (tests/trading_site/test_security_headers.py checks it against the vendored file).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF, CSP_NONCE],
        "style-src": [CSP_SELF, "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"],
        "img-src": [CSP_SELF, "data:"],
        "connect-src": [CSP_SELF],
        "font-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    },
}
# Browser features no Trendy page uses, off for the page and anything it might embed (the clipboard stays:
# the copy buttons need it). Only features browsers know today (an unknown name, such as the retired
# interest-cohort, is ignored); a page that uses a blocked feature is a console error the browser tests catch.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "autoplay": [],
    "browsing-topics": [],
    "camera": [],
    "display-capture": [],
    "geolocation": [],
    "gyroscope": [],
    "hid": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": [],
    "serial": [],
    "usb": [],
    "xr-spatial-tracking": [],
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
    if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Prometheus -------------------------------------------------------------------------

PROMETHEUS_EXPORT_MIGRATIONS = False
# When set, /metrics answers only to "Authorization: Bearer <token>" (Prometheus: authorization.credentials).
TRENDY_METRICS_TOKEN = env_str("TRENDY_METRICS_TOKEN")
PROMETHEUS_METRIC_NAMESPACE = "trendy"

# --- Logging ----------------------------------------------------------------------------
# LOG_FORMAT=json writes one JSON object per line (the default with DJANGO_DEBUG off).

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} must be DEBUG, INFO, WARNING, ERROR or CRITICAL.")
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be text or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "trading_site.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    # Every handler masks secrets (trading_site.logging.SecretsFilter; a worker's own handlers get it through
    # trading_site.celery). Django's own handlers are replaced here so that none is left without the filter.
    "filters": {
        "secrets": {"()": "trading_site.logging.SecretsFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["secrets"]},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        "ccxt": {"level": "WARNING"},
    },
}
# Sentry, only with SENTRY_DSN: errors of the web and the workers (Django and Celery integrations), no personal
# data, every event masked like the logs (trading_site.error_reports.sentry_before_send); performance traces only
# with SENTRY_TRACES_SAMPLE_RATE above 0.
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    from trading_site.error_reports import sentry_before_send

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        release=env_str("SENTRY_RELEASE", "") or None,
        send_default_pii=False,
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        before_send=sentry_before_send,
    )
# Error pages and e-mails hide secrets by name and by value, in debug too (trading_site.error_reports).
DEFAULT_EXCEPTION_REPORTER_FILTER = "trading_site.error_reports.SafeReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "trading_site.error_reports.SafeExceptionReporter"
