"""The language model commentators against a fake LLM server on 127.0.0.1 (never the internet): the request each
provider sends, the key kept out of errors, logs and pages, timeouts that return on time, off by default, the key
sealed at rest, one ask per bar, failures that never block the signal, and the API."""

from __future__ import annotations

import json
import logging
import socket
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from analytics import commentaries, commentary
from analytics.commentary import Anthropic, CommentaryError, OpenAICompatible
from analytics.models import Commentator
from tests.factories import UserFactory
from tests.fake_http import FakeHTTP, Reply, serving

URL = "/api/v1/analytics/signal/commentary"
KEY = "sk-test-7f3a9c21e5b84d06a1c2e3f4"
JSON = "application/json"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."}]


# --- The fake LLM server -------------------------------------------------------------------------------------


def openai_reply(text: str, **kwargs: Any) -> Reply:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": []}
    body["choices"] = [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    return Reply(body=json.dumps(body).encode(), **kwargs)


def anthropic_reply(*texts: str) -> Reply:
    blocks = [{"type": "text", "text": t} for t in texts]
    body = {"id": "msg_1", "type": "message", "role": "assistant", "content": blocks, "stop_reason": "end_turn"}
    return Reply(body=json.dumps(body).encode())


@pytest.fixture
def llm():
    """Both APIs, POST only: /…/chat/completions (OpenAI-compatible) and /v1/messages (Anthropic)."""
    not_found = Reply(404, b'{"error": {"message": "not found"}}')
    with serving(headers={"Content-Type": JSON}, not_found=not_found, methods={"POST"}) as fake:
        yield fake


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- The prompt ----------------------------------------------------------------------------------------------

ANSWER = {
    "symbol": "ETHUSDT",
    "market": "ETH/USDT",
    "exchange": "binance",
    "timeframe": "1d",
    "as_of": "2025-01-01T00:00:00Z",
    "price": 3332.5,
    "signal": "hold",
    "confidence": 0.4812,
    "probabilities": {"sell": 0.2, "hold": 0.4812, "buy": 0.3188},
    "horizon_bars": 1,
    "explanation": "Hold, 48 % sure.",
    "drivers": [{"input": "p_ranging", "value": 0.61, "push": 0.31}, {"input": "supertrend", "value": 1, "push": 0.1}],
    "inputs": {"p_ranging": 0.61, "supertrend": 1.0, "f_median": 0.0012, "f_width": 0.081},
    "regime": {"current": "ranging", "model_version": 1},
    "sentiment": {"status": "no_sources", "overall_score": None, "used_in_signal": False},
    "track_record": {
        "walk_forward": {
            "model": {"rows": 900, "balanced_accuracy": 0.342, "follow_return": -0.1, "buy_and_hold_return": 0.48},
            "votes": {"rows": 900, "balanced_accuracy": 0.325},
            "hold": {"rows": 900, "balanced_accuracy": 0.3333},
            "blocks": [{"start_pos": 1}],
        },
        "live": {"signals": 3, "settled": 0},
    },
    "model": {"version": 1},
    "user_email": "alice@example.com",  # not a fact of the signal: never sent
}


def test_the_prompt_carries_the_signals_facts_and_the_rules():
    system, user = commentary.prompt(ANSWER, "ko")
    assert system["role"] == "system" and user["role"] == "user"
    assert "Write Korean only, in 2 to 4 plain sentences" in system["content"]
    assert 'why the model says "hold"' in system["content"]
    assert "Never recommend a different action" in system["content"]
    assert "never invent" in system["content"]
    facts = json.loads(user["content"].split("Facts (JSON):\n", 1)[1].split("\n\nWhat the inputs mean", 1)[0])
    assert facts["signal"] == "hold" and facts["confidence"] == 0.4812
    assert facts["probabilities"] == ANSWER["probabilities"]
    assert facts["drivers"][0] == {"input": "p_ranging", "value": 0.61, "push_toward_signal": 0.31}
    assert facts["regime_now"] == "ranging" and facts["forecast_inputs"] == {"f_median": 0.0012, "f_width": 0.081}
    walk = facts["track_record_walk_forward"]
    assert walk["signal"]["balanced_accuracy"] == 0.342 and walk["signal"]["follow_return"] == -0.1
    assert walk["six_strategies_majority_vote"]["balanced_accuracy"] == 0.325
    assert facts["track_record_live"] == {"signals": 3, "settled": 0}
    assert "alice@example.com" not in user["content"] + system["content"]
    assert "blocks" not in user["content"]
    english = commentary.prompt(ANSWER, "en")[0]["content"]
    assert "Write English only" in english
    assert commentary.prompt(ANSWER, "fr")[0]["content"] == english  # an unknown language: English


# --- The providers' requests ---------------------------------------------------------------------------------


def test_openai_compatible_request_and_answer(llm):
    llm.route("/v1/chat/completions", openai_reply("  Hold: the regime looks sideways.  "))
    client = OpenAICompatible(llm.url + "/v1/", KEY, "llama-3.1-8b", 123)
    assert client.comment(MESSAGES, timeout=5) == "Hold: the regime looks sideways."
    (seen,) = llm.hits("/v1/chat/completions")
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.json() == {"model": "llama-3.1-8b", "messages": MESSAGES, "max_tokens": 123}
    assert KEY not in repr(client)

    OpenAICompatible(llm.url + "/v1", "", "llama-3.1-8b").comment(MESSAGES, timeout=5)  # a local server: no key
    assert "Authorization" not in llm.hits("/v1/chat/completions")[1].headers


def test_anthropic_request_and_answer(llm):
    llm.route("/v1/messages", anthropic_reply("Hold, ", "48 % sure."))
    client = Anthropic(llm.url, KEY, "claude-sonnet-4-5", 200)
    assert client.comment(MESSAGES, timeout=5) == "Hold, 48 % sure."
    (seen,) = llm.hits("/v1/messages")
    assert seen.headers["x-api-key"] == KEY and seen.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in seen.headers
    assert seen.json() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "system": "Be brief.",  # top level, not a message
        "messages": [{"role": "user", "content": "Say hi."}],
    }
    assert Anthropic("", KEY, "m").base_url == "https://api.anthropic.com"


def test_long_answers_are_capped():
    text = commentary.clean_text("word " * 1000)
    assert len(text) <= commentary.MAX_CHARS and text.endswith("…")


ECHO = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}})


@pytest.mark.parametrize(
    ("reply", "reason", "status"),
    [
        (Reply(401, ECHO.encode()), "unauthorized", 401),
        (Reply(403, ECHO.encode()), "unauthorized", 403),
        (Reply(500, ECHO.encode()), "http_error", 500),
        (Reply(429, ECHO.encode()), "http_error", 429),
        (Reply(200, b"<html>not json " + KEY.encode()), "bad_response", None),
        (Reply(200, b'{"choices": []}'), "bad_response", None),
        (Reply(200, b'{"choices": [{"message": {"content": 42}}]}'), "bad_response", None),
        (openai_reply("   "), "empty", None),
        (Reply(200, b'{"choices": [{"message": {"content": null}}]}'), "empty", None),
    ],
)
def test_failures_are_commentary_errors_without_the_key(llm, reply, reason, status):
    llm.route("/chat/completions", reply)
    with pytest.raises(CommentaryError) as caught:
        OpenAICompatible(llm.url, KEY, "m").comment(MESSAGES, timeout=5)
    assert caught.value.reason == reason and caught.value.status == status
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.args)


def test_anthropic_malformed_and_unreachable(llm):
    llm.route("/v1/messages", Reply(200, b'{"type": "error"}'))
    with pytest.raises(CommentaryError) as caught:
        Anthropic(llm.url, KEY, "m").comment(MESSAGES, timeout=5)
    assert caught.value.reason == "bad_response"
    with pytest.raises(CommentaryError) as caught:
        Anthropic(f"http://127.0.0.1:{closed_port()}", KEY, "m").comment(MESSAGES, timeout=5)
    assert caught.value.reason == "unreachable" and KEY not in str(caught.value)


@pytest.mark.parametrize(
    "reply",
    [openai_reply("too late", delay=3), openai_reply("a very slow trickle of bytes", trickle=0.2)],
    ids=["slow-answer", "trickled-body"],
)
def test_a_timeout_returns_on_time(llm, reply):
    llm.route("/chat/completions", reply)
    started = time.monotonic()
    with pytest.raises(CommentaryError) as caught:
        OpenAICompatible(llm.url, KEY, "m").comment(MESSAGES, timeout=1)
    elapsed = time.monotonic() - started
    assert caught.value.reason == "timeout" and elapsed < 2, elapsed
    assert str(caught.value) == "The language model did not answer within 1 s."


def test_private_addresses_are_refused_unless_allowed(llm):
    for url in ("http://127.0.0.1:8000/v1", "http://10.1.2.3", "http://169.254.169.254/latest", "http://[::1]:80"):
        assert commentary.private_host(url), url
    for url in ("http://192.168.0.10", "http://100.64.0.1", "http://0.0.0.0", "http://localhost:11434/v1"):
        assert commentary.private_host(url), url
    assert not commentary.private_host("https://8.8.8.8/v1")
    llm.route("/chat/completions", openai_reply("hi"))
    with pytest.raises(CommentaryError) as caught:
        OpenAICompatible(llm.url, KEY, "m", allow_private=False).comment(MESSAGES, timeout=5)
    assert caught.value.reason == "private_address" and llm.seen == []


# --- Configuration: off by default, the key sealed -----------------------------------------------------------


def save(llm: FakeHTTP, **kwargs: Any) -> Commentator:
    values = {
        "name": "local llama",
        "provider": "openai",
        "base_url": llm.url + "/v1",
        "model": "llama-3.1-8b",
        "api_key": KEY,
        "enabled": True,
        "timeout_seconds": 2,
        **kwargs,
    }
    return commentaries.commentator_save(**values)


@pytest.mark.django_db
def test_off_by_default(alice_api, llm):
    assert Commentator._meta.get_field("enabled").default is False
    assert commentaries.signal_commentary(exchange="binance", symbol="ETH/USDT", timeframe="1d") == {"status": "off"}
    response = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 200 and response.json() == {"status": "off"}
    save(llm, enabled=False)
    assert commentaries.signal_commentary(exchange="binance", symbol="ETH/USDT", timeframe="1d") == {"status": "off"}
    assert llm.seen == []


@pytest.mark.django_db
def test_the_key_is_sealed_kept_and_one_commentator_answers(llm):
    row = save(llm)
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM analytics_commentator WHERE id = %s", [row.pk])
        (stored,) = cursor.fetchone()
    assert stored and KEY not in stored and stored != KEY
    assert commentaries.commentator_key(row) == KEY
    # A blank key keeps the stored one; clearing removes it.
    row = commentaries.commentator_save(
        commentator=Commentator.objects.get(pk=row.pk), name="renamed", provider="openai", base_url=llm.url,
        model="m", enabled=True,
    )  # fmt: skip
    row.refresh_from_db()
    assert row.name == "renamed" and row.api_key == stored and row.base_url == llm.url
    # Enabling another disables the first: one answers.
    other = save(llm, name="claude", provider="anthropic", base_url=llm.url)
    row.refresh_from_db()
    assert other.enabled and not row.enabled and commentaries.enabled_commentator() == other
    row = commentaries.commentator_save(
        commentator=row, name="renamed", provider="openai", base_url=llm.url, model="m", clear_key=True
    )
    assert row.api_key == "" and commentaries.commentator_key(row) == ""


@pytest.mark.django_db
def test_rotate_keys_reseals_the_commentators_key(llm, settings):
    import io
    import os

    from django.core.management import call_command

    settings.TRENDY_ENCRYPTION_KEYS = [os.urandom(32)]
    row = save(llm)
    new = os.urandom(32)
    settings.TRENDY_ENCRYPTION_KEYS = [new, *settings.TRENDY_ENCRYPTION_KEYS]
    call_command("rotate_keys", stdout=io.StringIO())
    settings.TRENDY_ENCRYPTION_KEYS = [new]  # the old key is gone: the key still opens
    row.refresh_from_db()
    assert commentaries.commentator_key(row) == KEY
    # A key sealed with a key that left the keyring: the commentary is unavailable, the test says so, nothing raises.
    settings.TRENDY_ENCRYPTION_KEYS = [os.urandom(32)]
    assert commentaries.commentator_test(commentator=row) == (
        False,
        "The language model's API refused the configured key.",
    )
    assert llm.seen == []


@pytest.mark.django_db
def test_base_urls_are_checked(llm, settings):
    for bad in ("ftp://example.com", "https://user:pw@example.com/v1", "https://example.com/v1?key=x", "nonsense"):
        with pytest.raises(ValidationError) as caught:
            save(llm, base_url=bad)
        assert "base_url" in caught.value.message_dict, bad
    with pytest.raises(ValidationError):
        save(llm, timeout_seconds=61)
    settings.TRENDY_LLM_ALLOW_PRIVATE = False  # production: the internal network is out of reach
    with pytest.raises(ValidationError) as caught:
        save(llm)
    assert "TRENDY_LLM_ALLOW_PRIVATE" in caught.value.message_dict["base_url"][0]
    assert Commentator.objects.count() == 0


# --- The admin -----------------------------------------------------------------------------------------------


@pytest.fixture
def staff(client, db):
    client.force_login(UserFactory(email="root@example.com", is_staff=True, is_superuser=True))
    return client


def form(llm: FakeHTTP, **kwargs: Any) -> dict[str, Any]:
    data = {
        "name": "local llama", "provider": "openai", "base_url": llm.url + "/v1", "model": "llama-3.1-8b",
        "new_api_key": KEY, "enabled": "on", "timeout_seconds": 2, "max_tokens": 300,
    }  # fmt: skip
    data.update(kwargs)
    return {k: v for k, v in data.items() if v is not None}


def test_the_admin_never_shows_the_key(staff, llm):
    add = reverse("admin:analytics_commentator_add")
    assert 'type="password"' in staff.get(add).content.decode()
    response = staff.post(add, form(llm))
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Commentator.objects.get()
    assert commentaries.commentator_key(row) == KEY and row.enabled
    change = reverse("admin:analytics_commentator_change", args=[row.pk])
    for url in (change, reverse("admin:analytics_commentator_changelist")):
        html = staff.get(url).content.decode()
        assert KEY not in html and row.api_key not in html and KEY[-8:] not in html
    html = staff.get(change).content.decode()
    assert 'name="new_api_key"' in html and 'value="' + KEY not in html
    assert '<div class="readonly">set</div>' in html
    # A form sent back with an error never puts the key back into the page.
    bad = form(llm, base_url="https://user:pw@example.com/v1", new_api_key="sk-another-key-0001")
    html = staff.post(change, bad).content.decode()
    assert "sk-another-key-0001" not in html and "the key goes in the API key field" in html
    # Saved with the key left blank: the stored key stays.
    sealed = row.api_key
    assert staff.post(change, form(llm, new_api_key="", model="llama-3.2")).status_code == 302
    row.refresh_from_db()
    assert row.api_key == sealed and row.model == "llama-3.2"


def test_the_admins_test_action(staff, llm, caplog):
    llm.route("/v1/chat/completions", openai_reply("The connection works."), Reply(401, ECHO.encode()))
    staff.post(reverse("admin:analytics_commentator_add"), form(llm))
    row = Commentator.objects.get()
    changelist = reverse("admin:analytics_commentator_changelist")
    action = {"action": "ask_test", "_selected_action": [row.pk]}
    html = staff.post(changelist, action, follow=True).content.decode()
    assert "Local llama answered: The connection works." in html
    assert llm.hits("/v1/chat/completions")[0].json()["messages"] == commentary.TEST_PROMPT
    row.refresh_from_db()
    assert row.last_ok_at is not None
    with caplog.at_level(logging.DEBUG):
        html = staff.post(changelist, action, follow=True).content.decode()
    assert "Local llama failed: The language model&#x27;s API refused the configured key." in html
    row.refresh_from_db()
    assert "HTTP 401" in row.last_error and KEY not in row.last_error and KEY not in html
    assert "HTTP 401" in caplog.text and KEY not in caplog.text


# --- The commentary beside a trained signal ------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(django_db_setup, django_db_blocker, tmp_path_factory):
    """ETH/USDT's daily signal (with its regime model and forecaster), trained once for the module on the real
    daily candles (the smallest data test_signal.py uses) and removed afterwards."""
    from django.test import override_settings

    from analytics import forecasts, model_files, regimes, signals
    from analytics.models import ForecastModel, RegimeModel, SignalModel, SignalRecord
    from market_data.models import Candle
    from market_data.services import candles_import_csv
    from tests.analytics.conftest import OHLCV

    with override_settings(TRENDY_MODEL_DIR=tmp_path_factory.mktemp("models")):
        model_files._loaded.clear()
        with django_db_blocker.unblock():
            for coin in ("BTC", "ETH"):
                candles_import_csv(
                    path=OHLCV / f"binance_{coin}USDT_1d.csv.gz", exchange="binance", symbol=f"{coin}/USDT",
                    timeframe="1d",
                )  # fmt: skip
            regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
            forecasts.forecast_model_train(exchange="binance", symbol="ETH/USDT")
            row = signals.signal_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d")
        yield row
        with django_db_blocker.unblock():
            for model in (SignalRecord, SignalModel, ForecastModel, RegimeModel, Candle):
                model.objects.filter(exchange="binance").delete()
        model_files._loaded.clear()


MARKET = {"exchange": "binance", "symbol": "ETH/USDT", "timeframe": "1d"}


@pytest.mark.django_db
def test_the_commentary_explains_the_signal_once_per_bar(trained, llm, alice_api):
    from analytics.signals import market_signal

    llm.route("/v1/chat/completions", openai_reply("The model says hold: the regime looks sideways."))
    save(llm)
    answer = commentaries.signal_commentary(**MARKET, language="en")
    signal = market_signal(**MARKET)
    assert answer == {
        "symbol": "ETHUSDT", "timeframe": "1d", "as_of": "2025-01-01T00:00:00Z", "signal": signal["signal"],
        "provider": "openai", "model": "llama-3.1-8b", "language": "en", "status": "ok",
        "text": "The model says hold: the regime looks sideways.", "note": answer["note"],
    }  # fmt: skip
    (seen,) = llm.hits("/v1/chat/completions")
    assert seen.headers["Authorization"] == f"Bearer {KEY}" and seen.json()["model"] == "llama-3.1-8b"
    system, user = seen.json()["messages"]
    assert "Write English only" in system["content"] and f'says "{signal["signal"]}"' in system["content"]
    facts = commentary.facts(signal)
    assert json.dumps(facts, ensure_ascii=False, indent=1) in user["content"]
    assert facts["confidence"] == signal["confidence"] and facts["drivers"]
    assert facts["track_record_walk_forward"]["signal"]["balanced_accuracy"] == pytest.approx(
        signal["track_record"]["walk_forward"]["model"]["balanced_accuracy"], abs=1e-4
    )
    # The same bar again: from the cache, the language model is not asked.
    assert commentaries.signal_commentary(**MARKET, language="en")["text"] == answer["text"]
    assert len(llm.seen) == 1
    # Korean is another commentary, asked once; the API answers it from the cache.
    llm.route("/v1/chat/completions", openai_reply("모델은 관망을 말합니다."))
    response = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d", "exchange": "binance", "lang": "ko"})
    assert response.status_code == 200 and response.json()["text"] == "모델은 관망을 말합니다."
    assert response.json()["language"] == "ko" and len(llm.seen) == 2
    assert "Write Korean only" in llm.seen[1].json()["messages"][0]["content"]
    again = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d", "exchange": "binance", "lang": "ko"})
    assert again.json() == response.json() and len(llm.seen) == 2
    # While another request is asking, the next one does not ask too.
    from django.core.cache import cache

    row = Commentator.objects.get()
    key = commentaries.cache_key(row, exchange="binance", answer=signal, language="en")
    cache.delete(key)
    cache.add(f"{key}:asking", 1, 10)
    waiting = commentaries.signal_commentary(**MARKET)
    assert waiting["status"] == "pending" and "ask again" in waiting["reason"] and len(llm.seen) == 2
    cache.delete(f"{key}:asking")
    # Staff change the commentator: the next ask is new.
    commentaries.commentator_save(
        commentator=row, name=row.name, provider="anthropic", base_url=llm.url, model="claude", enabled=True
    )
    llm.route("/v1/messages", anthropic_reply("Hold."))
    assert commentaries.signal_commentary(**MARKET)["text"] == "Hold."
    assert llm.hits("/v1/messages")[0].headers["x-api-key"] == KEY


@pytest.mark.django_db
def test_a_failing_language_model_never_blocks_the_signal(trained, llm, alice_api, caplog):
    from analytics.signals import market_signal

    market_signal(**MARKET)  # the signal itself, cached for the bar: what is timed below is the commentary
    llm.route("/v1/chat/completions", openai_reply("too late", delay=4))
    row = save(llm, timeout_seconds=1)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        answer = commentaries.signal_commentary(**MARKET)
    elapsed = time.monotonic() - started
    assert elapsed < row.timeout_seconds + 1, elapsed
    assert answer["status"] == "unavailable" and answer["reason_code"] == "timeout"
    assert answer["reason"] == "The language model did not answer within 1 s."
    assert answer["signal"] == market_signal(**MARKET)["signal"] and "text" not in answer
    row.refresh_from_db()
    assert row.last_error == "The language model did not answer within 1 s." and row.last_error_at
    # Not asked again for a while: a down language model is not hammered.
    assert commentaries.signal_commentary(**MARKET)["status"] == "unavailable" and len(llm.seen) == 1

    # A refused key: the reason in the reader's language, the key nowhere.
    llm.route("/v1/chat/completions", Reply(401, ECHO.encode()))
    with caplog.at_level(logging.DEBUG):
        response = alice_api.get(
            URL, {"symbol": "ETHUSDT", "timeframe": "1d", "exchange": "binance", "lang": "ko"}
        )  # fmt: skip
    body = response.json()
    assert response.status_code == 200 and body["status"] == "unavailable" and body["reason_code"] == "unauthorized"
    assert body["language"] == "ko"
    assert KEY not in response.content.decode() and KEY not in caplog.text
    row.refresh_from_db()
    assert "HTTP 401" in row.last_error and KEY not in row.last_error


@pytest.mark.django_db
def test_the_api_refuses_like_the_signal(llm, alice_api, api_client):
    assert api_client.get(URL, {"symbol": "ETHUSDT"}).status_code == 401
    assert alice_api.get(URL, {"symbol": "ETH-USDT-X"}).status_code == 400
    assert alice_api.get(URL, {"symbol": "ETHUSDT", "lang": "fr"}).status_code == 400
    save(llm)
    for symbol in ("SOLUSDT", "XRPUSDT"):  # no signal model: as the signal answers
        response = alice_api.get(URL, {"symbol": symbol, "timeframe": "1d", "exchange": "binance"})
        assert response.status_code == 404, response.content
    assert llm.seen == []


@pytest.mark.django_db
def test_the_page_asks_for_the_commentary_after_drawing_the_signal(trained, llm, alice, client):
    client.force_login(alice)
    query = {"symbol": "ETHUSDT", "timeframe": "1d"}
    assert 'id="commentary"' not in client.get("/analytics/market/", query).content.decode()  # off: never asked
    llm.route("/v1/chat/completions", openai_reply("Hold, says the model."))
    row = save(llm)
    page = client.get("/analytics/market/", query).content.decode()
    # the page is drawn without the language model: the commentary is a request of its own, made after it loads
    assert 'hx-get="/analytics/market/commentary?symbol=ETHUSDT&amp;timeframe=1d"' in page and llm.seen == []
    part = client.get("/analytics/market/commentary", query)
    assert part.status_code == 200 and "Hold, says the model." in part.content.decode() and len(llm.seen) == 1
    # a language model too slow for its timeout: a sentence instead of the commentary, the signal above unchanged
    llm.route("/v1/chat/completions", openai_reply("too late", delay=3))
    commentaries.commentator_save(
        commentator=row, name=row.name, provider="openai", base_url=llm.url + "/v1", model=row.model, enabled=True,
        timeout_seconds=1,
    )  # fmt: skip
    slow = client.get("/analytics/market/commentary", query, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "언어 모델이 1초 안에 응답하지 않았습니다." in slow and "too late" not in slow
    assert client.get("/analytics/market/commentary", {"symbol": "not a market"}).status_code == 400
    assert client.get("/analytics/market/commentary", {"symbol": "SOLUSDT", "timeframe": "1d"}).status_code == 200
