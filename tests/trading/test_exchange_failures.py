"""Exchange errors are permanent or transient (issue 13). A permanent one (keys refused or unusable, a missing
permission, an unknown market, an order the exchange never takes, not enough funds) halts the bot at once with a
reason the user reads, and keys that cannot work mark the account; a transient one (time-out, 5xx, 429) is tried
again after a growing wait (1 s … 5 min, jitter, Retry-After honoured), and a bounded number of them in a row
halts the bot too: no error loops forever."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone, translation

from accounts import services as account_services
from accounts.models import ExchangeAccount
from trading import clock
from trading.bots import loop
from trading.bots import tick as ticks
from trading.exchanges import errors
from trading.models import Bot, Order

pytestmark = pytest.mark.django_db

C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}


def at(candle_open):
    return clock.pinned(clock.Pin(time=candle_open + HOUR, price=lambda exchange, symbol: D(50_000)))


# --- the classes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "permanent"),
    [
        (errors.AuthenticationError("x"), True),
        (errors.CredentialsUnusable("x"), True),
        (errors.InsufficientFunds("x"), True),
        (errors.InvalidOrder("x"), True),
        (errors.UnknownSymbol("x"), True),
        (errors.ExchangeError("x"), True),
        (UnicodeEncodeError("latin-1", "key\u200b", 3, 4, "ordinal not in range(256)"), True),
        (errors.TemporaryError("x"), False),
        (errors.RequestTimeout("x"), False),
        (errors.RateLimited("x", retry_after=5), False),
        (ValueError("x"), False),
    ],
)
def test_permanent_or_transient(exc, permanent):
    assert errors.is_permanent(exc) is permanent


def test_the_wait_doubles_from_one_second_to_five_minutes_with_jitter_and_honours_retry_after():
    low = [errors.retry_delay(n, rand=lambda: 0.0) for n in range(20)]
    high = [errors.retry_delay(n, rand=lambda: 1.0) for n in range(20)]
    assert high[:10] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300] and set(high[10:]) == {300}
    assert low[0] == 1 and low[3] == 4 and low[-1] == 150  # half of the ceiling at the least: jitter
    assert all(1 <= d <= 300 for d in low + high)
    assert errors.retry_delay(0, retry_after=42, rand=lambda: 1.0) == 42  # never sooner than the exchange asks
    assert errors.retry_delay(9, retry_after=42, rand=lambda: 1.0) == 300
    assert errors.retry_delay(0, retry_after=10**6) == errors.RETRY_AFTER_CAP_S


# --- a bot on a failing exchange ----------------------------------------------------------------------------


@pytest.fixture
def account(alice, binance_server, settings):
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    return account_services.exchange_account_create(
        user=alice, exchange="binance", label="Binance", api_key=binance_server.api_key, secret=binance_server.secret
    )


@pytest.fixture
def bot(account):
    return Bot.objects.create(
        user=account.user, exchange_account=account, name="live", strategy="ema_crossover", symbol="BTC/USDT",
        timeframe="1h", status=Bot.Status.RUNNING,
    )  # fmt: skip


class Refusing:
    """An exchange whose every call raises ``exc``."""

    def __init__(self, exc):
        self.exc = exc

    def __getattr__(self, name):
        def call(*args, **kwargs):
            raise self.exc

        return call


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (errors.InsufficientFunds("binance: cannot place the order: not enough USDT"), "insufficient_funds",
         "not enough funds"),
        (errors.InvalidOrder("binance: cannot place the order: Filter failure: NOTIONAL"), "order_refused",
         "refused the bot's order"),
        (errors.UnknownSymbol("binance does not list the spot market BTC/USDT."), "unknown_symbol",
         "does not list BTC/USDT"),
        (errors.ExchangeError("binance: cannot fetch the balance: account suspended"), "exchange_refused",
         "refused the bot's request"),
    ],
)  # fmt: skip
def test_a_permanent_error_halts_the_bot_with_a_reason_it_reads(bot, monkeypatch, exc, code, words):
    @contextmanager
    def session(account):
        yield Refusing(exc)

    monkeypatch.setattr(ticks, "exchange_session", session)
    with at(C1):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert result.outcome == "halted" and words in result.message
    bot.refresh_from_db()
    assert bot.status == Bot.Status.HALTED and bot.status_detail["code"] == code
    assert words in bot.reason_text
    # The next candle does nothing: the bot is no longer running, so no task is sent for it.
    assert bot not in loop.running_bots()


@pytest.mark.parametrize("fault", ["reject_keys", "unusable_keys", "unreadable_keys"])
def test_keys_that_cannot_work_halt_the_bot_and_mark_the_account(bot, account, binance_server, fault):
    if fault == "reject_keys":
        binance_server.reject_keys = True
    elif fault == "unusable_keys":  # a key stored before keys were checked, with a zero-width space in it
        account.set_credentials(api_key=binance_server.api_key + "\u200b", secret=binance_server.secret)
        account.save()
    else:
        ExchangeAccount.objects.filter(pk=account.pk).update(secret="tv1$00000000$AAAA")
    code = {"reject_keys": "keys_rejected", "unusable_keys": "keys_unusable", "unreadable_keys": "keys_unreadable"}
    with at(C1):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)  # no exception: nothing to retry
    assert result.outcome == "halted"
    bot.refresh_from_db()
    account.refresh_from_db()
    assert bot.status == Bot.Status.HALTED and bot.status_detail["code"] == code[fault]
    assert account.last_test_ok is False and account.last_test_detail["kind"] == code[fault]
    assert binance_server.creates() == [] and not Order.objects.exists()
    with translation.override("ko"):  # worded when read, in the reader's language (Korean after the merge)
        assert bot.reason_text


def test_transient_failures_back_off_and_halt_after_the_bound(bot, binance_server, settings):
    settings.TRENDY_BOT_MAX_TRANSIENT_FAILURES = 3
    binance_server.server_error(10_000)  # the exchange is down
    waits = []
    for attempt in range(1, 3):
        with at(C1), pytest.raises(errors.TemporaryError) as caught:
            ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
        waits.append(caught.value.retry_in)
        bot.refresh_from_db()
        assert bot.status == Bot.Status.RUNNING and bot.transient_failures == attempt
        assert bot.retry_not_before > timezone.now() + timedelta(seconds=waits[-1] - 5)
        assert bot.last_candle_open is None or bot.last_candle_open < C1  # released for the retry
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2
    # While it waits, the catch-up does not send the bot again (no second task racing the retry).
    sent = []
    with at(C1 + timedelta(minutes=5)):
        loop.catch_up(now=C1 + HOUR + timedelta(minutes=5), dispatch=lambda *a: sent.append(a))
    assert sent == []
    with at(C1):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)  # the third in a row
    assert result.outcome == "halted"
    bot.refresh_from_db()
    assert bot.status == Bot.Status.HALTED and bot.status_detail["code"] == "exchange_unavailable"
    assert bot.status_detail["count"] == 3 and "failed to answer 3 times in a row" in bot.reason_text
    assert bot.transient_failures == 0 and bot.retry_not_before is None


def test_a_success_ends_the_streak(bot, binance_server, settings):
    binance_server.server_error(4)  # the first read fails 4 times (the adapter itself tries 4 times): one tick fails
    with at(C1), pytest.raises(errors.TemporaryError):
        ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    bot.refresh_from_db()
    assert bot.transient_failures == 1
    with at(C1):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "traded"
    bot.refresh_from_db()
    assert bot.transient_failures == 0 and bot.retry_not_before is None and bot.status == Bot.Status.RUNNING


def test_the_task_retries_with_the_bots_wait_and_stops_at_the_bound(bot, binance_server, settings, monkeypatch):
    """The Celery task (eager here): a rate-limited exchange that never recovers ends in a halted bot, not in
    a loop; each retry is scheduled with the wait the bot computed (Retry-After honoured)."""
    from trading import tasks

    settings.TRENDY_BOT_MAX_TRANSIENT_FAILURES = 4
    binance_server.rate_limit(10_000)
    countdowns = []
    real_retry = tasks.run_bot_tick.retry

    def retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return real_retry(*args, **kwargs)

    monkeypatch.setattr(tasks.run_bot_tick, "retry", retry)
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the adapter's own short backoff
    conf = tasks.run_bot_tick.app.conf
    propagates, conf.task_eager_propagates = conf.task_eager_propagates, False  # eager: retries run inline
    try:
        with at(C1):
            tasks.run_bot_tick.apply(args=(bot.pk, C1.isoformat(), LONG), throw=False)
    finally:
        conf.task_eager_propagates = propagates
    bot.refresh_from_db()
    assert bot.status == Bot.Status.HALTED and bot.status_detail["code"] == "exchange_unavailable"
    assert len(countdowns) == 3 and all(c >= 0.5 for c in countdowns)


def test_an_encoding_error_holding_the_key_is_never_chained(binance_server):
    """The UnicodeEncodeError raised while sending holds the whole key: the adapter refuses such keys before any
    request, and an encoding error it meets anyway is translated without chaining it."""
    with pytest.raises(errors.CredentialsUnusable) as caught:
        binance_server.exchange("spot", api_key=binance_server.api_key + "\u200b")
    assert caught.value.__cause__ is None and binance_server.api_key not in str(caught.value)
    exchange = binance_server.exchange("spot")
    exchange.client.apiKey = binance_server.api_key + "\u200b"  # changed behind the adapter's back
    with pytest.raises(errors.ExchangeError) as caught:
        exchange.fetch_balance()
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert binance_server.api_key not in str(caught.value) and errors.is_permanent(caught.value)
    assert not any(r.header("X-MBX-APIKEY") for r in binance_server.requests)  # no signed request went out
