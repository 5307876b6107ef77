"""The canary (issue 13): a trader's whole path with distinctive secret values — sign-up, the wizard's exchange step
on the fake Binance at 127.0.0.1, connection tests that pass, are refused and meet a 500, a bot that trades a
candle, a webhook endpoint made with an Idempotency-Key and alerts with the right and a wrong secret, a bot whose
keys cannot even be sent, the debug page of a view that fails holding the keys, and the API and pages — then
none of the canaries may appear in any log record of any logger (as formatted by the project's own handlers, text
and JSON), in any Celery task's arguments or result, in any Redis key or value, in the database (every row of
every table, and ``pg_dump`` on PostgreSQL), or in any answer but the two that hand a secret out once."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from celery.signals import task_postrun, task_prerun
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from accounts.models import ExchangeAccount, User
from tests.conftest import ON_POSTGRES, ON_REDIS
from tests.onboarding.conftest import HTMX, step_url
from tests.trading.fake_exchange import FakeBinance, serving
from trading import clock
from trading.bots import services as bot_services
from trading.models import Bot, Order
from trading.tasks import run_bot_tick
from trading_site import redact
from trading_site.logging import JsonFormatter, SecretsFilter

C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}
TOKEN_RE = re.compile(r"http://testserver(/accounts/confirm-email/\S+)")


def canary(name: str) -> str:
    return f"CANARY{name}{secrets.token_hex(12)}"


# --- a view with a bug that holds the keys: the debug page must not show them -------------------------------------


def leaky_view(request):
    account = ExchangeAccount.objects.filter(user=request.user).exclude(exchange="paper").first()
    keys = account.credentials()
    raise RuntimeError(f"the exchange answered something odd for key {keys['api_key']} / {keys['secret']}")


urlpatterns = [path("boom/", leaky_view), path("", include("trading_site.urls"))]


# --- what is captured -------------------------------------------------------------------------------------------


class Capture:
    def __init__(self):
        self.text = io.StringIO()
        self.json = io.StringIO()
        self.tasks: list[str] = []
        self.answers: list[str] = []

    def on_prerun(self, sender=None, task_id=None, task=None, args=None, kwargs=None, **extra):
        self.tasks.append(f"{getattr(task, 'name', sender)} args={args!r} kwargs={kwargs!r}")

    def on_postrun(self, sender=None, task_id=None, task=None, retval=None, state=None, **extra):
        self.tasks.append(f"{getattr(task, 'name', sender)} result={retval!r} state={state}")

    def answer(self, response):
        self.answers.append(response.content.decode(errors="replace") + repr(dict(response.items())))
        return response


@pytest.fixture
def capture(caplog):
    """Every record of every logger at DEBUG, written by the project's configured handler (its formatter and
    the secrets filter) and by a JSON handler; Celery task arguments and results."""
    caplog.set_level(logging.DEBUG)
    for name in ("ccxt", "urllib3", "celery", "django", "django.request", "trading", "webhooks", "accounts"):
        caplog.set_level(logging.DEBUG, logger=name)
    found = Capture()
    root = logging.getLogger()
    configured = [h for h in root.handlers if any(isinstance(f, SecretsFilter) for f in h.filters)]
    assert configured, "settings.LOGGING's console handler with the secrets filter is on the root logger"
    streams = [(h, h.setStream(found.text)) for h in configured if isinstance(h, logging.StreamHandler)]
    json_handler = logging.StreamHandler(found.json)
    json_handler.setFormatter(JsonFormatter())
    json_handler.addFilter(SecretsFilter())
    root.addHandler(json_handler)
    task_prerun.connect(found.on_prerun, weak=False)
    task_postrun.connect(found.on_postrun, weak=False)
    redact.forget_all()  # nothing remembered from earlier tests: this one must earn its masking
    try:
        yield found
    finally:
        task_prerun.disconnect(found.on_prerun)
        task_postrun.disconnect(found.on_postrun)
        root.removeHandler(json_handler)
        for handler, stream in streams:
            handler.setStream(stream)


def redis_dump() -> str:
    if not ON_REDIS:
        from django.core.cache import cache

        return repr(dict(cache._cache))  # the in-process cache: pickled values
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    out = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        value = {
            b"string": lambda k: client.get(k),
            b"hash": lambda k: client.hgetall(k),
            b"list": lambda k: client.lrange(k, 0, -1),
            b"set": lambda k: client.smembers(k),
            b"zset": lambda k: client.zrange(k, 0, -1),
        }.get(kind, lambda k: b"")(key)
        out.append(f"{key!r} {value!r}")
    return "\n".join(out)


def database_dump() -> str:
    """Every row of every table as text (bytes decoded), and pg_dump's own dump on PostgreSQL."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - our own table names
            for row in cursor.fetchall():
                rows.append(
                    table
                    + " "
                    + " | ".join(
                        bytes(v).decode("latin-1") if isinstance(v, (bytes, memoryview)) else str(v) for v in row
                    )
                )
    text = "\n".join(rows)
    if ON_POSTGRES:
        db = connection.settings_dict
        dump = subprocess.run(
            ["pg_dump", "--data-only", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
             "-U", db["USER"], db["NAME"]],
            capture_output=True, text=True, check=True, env={"PGPASSWORD": db.get("PASSWORD") or ""},
        ).stdout  # fmt: skip
        assert "COPY public.accounts_exchangeaccount" in dump  # the dump did see our tables
        text += "\n" + dump
    return text


def logged(found: Capture, records: list[logging.LogRecord]) -> str:
    parts = [found.text.getvalue(), found.json.getvalue()]
    for record in records:  # each record as the handlers left it, extras included
        parts.append(record.getMessage())
        parts.append(record.exc_text or "")
        parts.append(repr({k: v for k, v in vars(record).items() if k not in ("msg", "args", "exc_info")}))
    return "\n".join(parts)


# --- the flow -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_canary_secret_reaches_a_log_a_task_the_cache_the_database_or_a_page(capture, caplog, monkeypatch, settings):
    api_key, api_secret, password = canary("KEY"), canary("SECRET"), canary("PASS")
    found = capture
    fake = FakeBinance(api_key=api_key, secret=api_secret)
    with serving(fake, monkeypatch):
        settings.TRENDY_EXCHANGE_API_URLS = {"binance": fake.url}
        settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
        web = Client(raise_request_exception=False)

        # 1. sign up, confirm, and the wizard's exchange step with the keys (spaces around, as pasted)
        found.answer(web.post(reverse("account_signup"), {"email": "canary@example.com", "password1": password,
                                                          "password2": password}))  # fmt: skip
        web.post(TOKEN_RE.search(mail.outbox[-1].body).group(1))
        user = User.objects.get(email="canary@example.com")
        form = {"action": "connect", "exchange": "binance", "label": "Binance", "market_type": "spot",
                "api_key": f" {api_key} ", "secret": api_secret}  # fmt: skip
        step = found.answer(web.post(step_url(1), form, **HTMX))
        assert step.status_code == 200, step.content.decode()[:2000]
        account = ExchangeAccount.objects.get(user=user)
        assert account.last_test_ok is True and account.credentials()["api_key"] == api_key

        # 2. an API token, and connection tests: passing, keys refused (the venue quoting the request), a 500
        token_answer = APIClient().post("/api/v1/auth/token/", {"email": user.email, "password": password, "name": "c"})
        token = token_answer.json()["token"]
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        test_url = f"/api/v1/accounts-secure/{account.pk}/test"
        assert found.answer(api.post(test_url)).json()["ok"] is True
        fake.reject_keys, fake.echo_requests = True, True
        assert found.answer(api.post(test_url)).json()["ok"] is False
        fake.reject_keys, fake.echo_requests = False, False
        fake.server_error(50)
        assert found.answer(api.post(test_url)).json()["ok"] is False
        fake._faults.clear()

        # 3. a bot that trades a candle, through its Celery task
        bot_services.auto_trading_set(user=user, enabled=True)
        bot = bot_services.bot_create(
            user=user, exchange_account=account,
            settings_=bot_services.BotSettings(strategy="ema_crossover", symbol="BTC/USDT", timeframe="1h"), start=True,
        )  # fmt: skip
        Bot.objects.filter(pk=bot.pk).update(last_candle_open=None)
        with clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
            run_bot_tick.delay(bot.pk, C1.isoformat(), LONG)
        assert Order.objects.filter(bot=bot, status=Order.Status.FILLED).exists()

        # 4. a webhook endpoint made with an Idempotency-Key (and retried), alerts with the right and a wrong secret
        endpoint_form = {"exchange_account": account.pk, "name": "TV", "live": True}
        endpoints = "/api/v1/webhooks/endpoints/"
        created = found.answer(api.post(endpoints, endpoint_form, format="json", HTTP_IDEMPOTENCY_KEY="canary-1"))
        assert created.status_code == 201, created.content
        webhook_secret = created.json()["secret"]
        found.answers.pop()  # the one answer that hands the secret out
        replay = found.answer(api.post(endpoints, endpoint_form, format="json", HTTP_IDEMPOTENCY_KEY="canary-1"))
        assert replay.status_code == 201 and replay.json()["secret"] is None
        hook = created.json()["url"].replace("http://testserver", "")
        body = {"action": "buy", "symbol": "BINANCE:BTCUSDT", "price": "50000", "position": "long", "size": "0.001",
                "order_id": "Long", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
        with clock.pinned(clock.Pin(time=datetime.now(UTC), price=lambda exchange, symbol: D(50_000))):
            right = found.answer(Client().post(hook, json.dumps({**body, "secret": webhook_secret}),
                                               content_type="application/json"))  # fmt: skip
            wrong = found.answer(Client().post(hook, json.dumps({**body, "secret": "not-the-secret-at-all"}),
                                               content_type="application/json"))  # fmt: skip
        assert right.status_code < 300 and wrong.status_code in (401, 403, 404), (right.content, wrong.content)

        # 5. a bot on keys stored before keys were checked (a zero-width space): halted, the account marked
        broken = ExchangeAccount(user=user, exchange="binance", label="Pasted")
        broken.set_credentials(api_key=api_key + "\u200b", secret=api_secret)
        broken.save()
        failing = Bot.objects.create(user=user, exchange_account=broken, name="failing", strategy="ema_crossover",
                                     symbol="BTC/USDT", timeframe="1h", status=Bot.Status.RUNNING)  # fmt: skip
        with clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
            run_bot_tick.delay(failing.pk, C1.isoformat(), LONG)
        failing.refresh_from_db()
        assert failing.status == Bot.Status.HALTED and failing.status_detail["code"] == "keys_unusable"
        found.answer(api.post(f"/api/v1/accounts-secure/{broken.pk}/test"))

        # 6. the debug page of a view that fails holding the keys (DEBUG on: Django's technical 500 page)
        settings.DEBUG = True
        settings.ROOT_URLCONF = __name__
        web.force_login(user)
        page = found.answer(web.get("/boom/"))
        assert page.status_code == 500 and "RuntimeError" in page.content.decode()
        settings.DEBUG = False
        settings.ROOT_URLCONF = "trading_site.urls"

        # 7. the API and the pages
        for url in ("/api/v1/accounts-secure/list", "/api/v1/bots/", "/api/v1/webhooks/endpoints/",
                    "/api/v1/webhooks/events/", "/api/v1/me/"):  # fmt: skip
            assert found.answer(api.get(url)).status_code == 200, url
        for name in ("trading:exchange-accounts", "trading:dashboard", "trading:bots", "webhooks:page"):
            assert found.answer(web.get(reverse(name))).status_code == 200, name

    canaries = {"API key": api_key, "API secret": api_secret, "password": password, "API token": token,
                "webhook secret": webhook_secret}  # fmt: skip
    places = {
        "logs": logged(found, caplog.records),
        "Celery task arguments and results": "\n".join(found.tasks),
        "Redis keys and values": redis_dump(),
        "database": database_dump(),
        "answers and pages": "\n".join(found.answers),
    }
    assert found.tasks and "trading.run_bot_tick" in places["Celery task arguments and results"]
    assert "Internal Server Error: /boom/" in places["logs"]  # the failing view was logged…
    leaks = [
        f"{what} in {where}"
        for what, value in canaries.items()
        for where, text in places.items()
        if value in text or value.encode().hex() in text
    ]
    assert not leaks, leaks  # …and nothing secret went anywhere
