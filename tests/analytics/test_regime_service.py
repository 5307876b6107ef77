"""Regime models of stored markets on PostgreSQL: a trained version is stored (file + row) and answers the
seed's market-regime shape; a new version replaces the live one only when it is not worse on its validation
window; one trainer per market; a tampered file is refused; the nightly task covers the markets on its own
queue."""

from __future__ import annotations

import io
import json
import threading

import pytest
from django.conf import settings

from analytics import market_regime, model_files, regimes
from analytics.models import RegimeModel
from analytics.tasks import train_regime_model, train_regime_models
from market_data.services import candles_import_csv
from strategies.builtin import REGISTRY
from tests.analytics.conftest import OHLCV
from trading_site.schedule import SCHEDULE

URL = "/api/v1/analytics/market-regime"


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.TRENDY_MODEL_DIR = tmp_path / "models"
    model_files._loaded.clear()
    return settings.TRENDY_MODEL_DIR


@pytest.fixture
def stored(db, model_dir):
    for coin in ("BTC", "ETH"):
        candles_import_csv(
            path=OHLCV / f"binance_{coin}USDT_1d.csv.gz", exchange="binance", symbol=f"{coin}/USDT", timeframe="1d"
        )


@pytest.fixture
def eth_v1(stored):
    return regimes.regime_model_train(exchange="binance", symbol="ETHUSDT", timeframe="1d", walk_forward=False)


def test_a_trained_version_is_stored_and_answers_in_the_seed_shape(stored, alice_api, model_dir):
    row = regimes.regime_model_train(exchange="binance", symbol="ETHUSDT", timeframe="1d", walk_forward=True)
    assert row.version == 1 and row.status == "live" and row.symbol == "ETH/USDT"
    assert (model_dir / row.path).exists() and len(row.sha256) == 64
    assert row.kind in ("random_forest", "gradient_boosting") and row.code_version == regimes.code_version()
    assert row.comparison["how"] == "first" and "corr_btc" in row.features
    assert row.walk_forward["overall"]["rows"] > 300 and len(row.walk_forward["blocks"]) == 5
    assert set(row.evidence) == set(REGISTRY) and len(REGISTRY) == 6
    assert row.train_end.year == 2024 and row.validation_start > row.train_start

    response = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["symbol"] == "ETHUSDT" and body["timeframe"] == "1d" and body["exchange"] == "binance"
    assert body["current_regime"] in ("trending_up", "trending_down", "ranging", "volatile")
    probs = body["regime_probabilities"]
    assert set(probs) == {"trending_up", "trending_down", "ranging", "volatile"}
    assert abs(sum(probs.values()) - 1) < 1e-3 and body["confidence"] == max(probs.values())
    assert body["current_regime"] == max(probs, key=probs.get)
    assert body["as_of"] == "2025-01-01T00:00:00Z"  # the last stored 1d candle closes then
    assert body["model"]["version"] == 1 and body["model"]["kind"] == row.kind
    assert set(body["features"]) == set(row.features)
    for item in body["recommended_strategies"]:
        stats = row.evidence[item["strategy"]][body["current_regime"]]
        assert item["trades"] == stats["trades"] >= 5 and item["mean_return_pct"] > 0


def test_recommendations_come_from_the_trades_split_by_regime(eth_v1):
    evidence = {
        "supertrend": {"ranging": {"trades": 9, "win_rate": 0.6, "mean_return": 0.02}},
        "rsi_ema": {"ranging": {"trades": 12, "win_rate": 0.7, "mean_return": 0.05}},
        "ema_crossover": {"ranging": {"trades": 4, "win_rate": 1.0, "mean_return": 0.30}},  # too few trades
        "ichimoku_cloud": {"ranging": {"trades": 30, "win_rate": 0.3, "mean_return": -0.01}},  # loses
    }
    picked = market_regime.recommended(evidence, "ranging")
    assert [p["strategy"] for p in picked] == ["rsi_ema", "supertrend"]
    assert picked[0]["mean_return_pct"] == 5.0 and picked[0]["name"] == "RSI + EMA"


def test_a_second_version_is_compared_on_its_own_window_and_a_worse_one_is_rejected(eth_v1):
    v2 = regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
    assert v2.version == 2
    # same features, the live version's holdout model scored the new validation window (no label seen by either)
    assert v2.comparison["how"] == "same_window" and v2.comparison["live_version"] == 1
    assert v2.status == ("live" if v2.comparison["candidate"] >= v2.comparison["live"] else "rejected")
    live = RegimeModel.objects.get(symbol="ETH/USDT", status="live")
    # a live version trained on other features claims a better score than any candidate: the next one is rejected
    RegimeModel.objects.filter(id=live.id).update(
        features=["other"], validation={live.kind: {"balanced_accuracy": 0.99}}
    )
    v3 = regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
    assert v3.status == "rejected" and v3.comparison["how"] == "recorded" and v3.comparison["live"] == 0.99
    assert RegimeModel.objects.get(status="live").id == live.id  # it keeps answering
    assert RegimeModel.objects.filter(symbol="ETH/USDT", status="live").count() == 1


def test_only_the_newest_files_are_kept(eth_v1, model_dir, settings):
    rows = [eth_v1]
    for _ in range(regimes.KEEP_FILES + 1):
        rows.append(
            regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
        )
    kept = RegimeModel.objects.exclude(path="")
    live = RegimeModel.objects.get(status="live")
    assert set(kept.values_list("id", flat=True)) >= {live.id}
    assert kept.count() <= regimes.KEEP_FILES + 1
    files = sorted(p.name for p in (model_dir / "regime" / "binance").iterdir())
    assert len(files) == kept.count()


@pytest.mark.django_db(transaction=True)
def test_one_trainer_per_market(stored):
    """Another worker holds the market's lock (its own database connection): this one returns at once."""
    holding, release = threading.Event(), threading.Event()

    def other_worker():
        from django.db import connection

        with regimes.training_lock("binance:ETH/USDT:1d") as held:
            assert held
            holding.set()
            release.wait(30)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert holding.wait(30)
    try:
        assert regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d") is None
        assert train_regime_model(exchange="binance", symbol="ETH/USDT", timeframe="1d")["skipped"] == "locked"
        # another market is not blocked
        with regimes.training_lock("binance:BTC/USDT:1d") as held:
            assert held
    finally:
        release.set()
        thread.join()
    assert not RegimeModel.objects.exists()
    row = regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
    assert row is not None and row.version == 1


def test_a_tampered_file_is_refused(eth_v1, model_dir, alice_api):
    path = model_dir / eth_v1.path
    path.write_bytes(path.read_bytes() + b"x")
    model_files._loaded.clear()
    response = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_corrupt"


def test_clear_answers_for_what_cannot_be_answered(stored, alice_api, api_client):
    response = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 404 and "trained" in response.json()["error"]["message"]
    assert alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "7m"}).status_code == 400
    assert alice_api.get(URL, {}).status_code == 400
    assert alice_api.get(URL, {"symbol": "not a market!"}).status_code == 400
    assert api_client.get(URL, {"symbol": "ETHUSDT"}).status_code == 401
    with pytest.raises(regimes.AnalysisError) as exc:
        regimes.regime_model_train(exchange="binance", symbol="SOL/USDT", timeframe="1d")
    assert exc.value.code == "unknown_symbol"
    with pytest.raises(regimes.AnalysisError) as exc:
        regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", days=200)
    assert exc.value.code == "too_little_data" and "at least 500" in exc.value.message
    assert not RegimeModel.objects.exists()


def test_the_nightly_retrain_covers_the_stored_markets_on_its_own_queue(
    stored, settings, django_capture_on_commit_callbacks
):
    assert regimes.regime_markets() == [("binance", "BTC/USDT", "1d"), ("binance", "ETH/USDT", "1d")]
    settings.TRENDY_REGIME_MARKETS = ["binance:ETH/USDT:1d", "nonsense"]
    assert regimes.regime_markets() == [("binance", "ETH/USDT", "1d")]
    with django_capture_on_commit_callbacks(execute=True):  # tasks are sent on commit
        assert train_regime_models() == 1  # eager here: the one market is trained
    assert RegimeModel.objects.get().symbol == "ETH/USDT"
    entry = next(e for e in SCHEDULE if e.task == "analytics.train_regime_models")
    assert entry.crontab == "30 2 * * *"
    for task in ("analytics.train_regime_models", "analytics.train_regime_model"):
        assert settings.CELERY_TASK_ROUTES[task] == {"queue": "analytics"}
    assert "analytics" in {q.name for q in settings.CELERY_TASK_QUEUES}


def test_the_answer_is_cached_per_version_and_candle(eth_v1, alice_api, django_assert_max_num_queries):
    first = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"}).json()
    with django_assert_max_num_queries(6):
        again = alice_api.get(URL, {"symbol": "ETH/USDT", "timeframe": "1d"}).json()
    assert again == first


def test_settings_default_to_var_models():
    assert str(settings.TRENDY_MODEL_DIR).endswith("models")


def test_the_report_command_reads_the_files_and_writes_markdown_and_json(tmp_path):
    from django.core.management import call_command

    out, figures = tmp_path / "report.md", tmp_path / "report.json"
    call_command(
        "regime_report", "ETH/USDT", "--timeframe", "1d", "--days", "1400", "--folds", "3",
        "--csv-dir", str(OHLCV), "--out", str(out), "--json", str(figures), stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    text = out.read_text()
    assert "## binance ETH/USDT 1d" in text and "naive baseline" in text and "Confusion matrix" in text
    data = json.loads(figures.read_text())[0]
    assert set(data["models"]) == {"random_forest", "gradient_boosting"} and set(data["forecast"]) == {"1", "3", "7"}
    matrix = data["models"][data["best"]]["overall"]["confusion"]
    assert sum(map(sum, matrix)) == data["models"][data["best"]]["overall"]["rows"]


def test_the_train_command_and_the_admin_action(stored, admin_client, django_capture_on_commit_callbacks):
    from django.core.management import call_command

    stdout = io.StringIO()
    call_command("train_regime", "binance:ETH/USDT:1d", "--no-walk-forward", stdout=stdout)
    assert "version 1 live" in stdout.getvalue()
    row = RegimeModel.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/analytics/regimemodel/", {"action": "retrain", "_selected_action": [row.id]}, follow=True
        )
    assert response.status_code == 200 and "1 market sent" in response.content.decode()
    assert RegimeModel.objects.filter(symbol="ETH/USDT").count() == 2  # eager: trained at once


def test_on_the_replay_clock_a_model_that_learnt_the_replayed_bars_does_not_answer(
    eth_v1, alice_api, django_capture_on_commit_callbacks
):
    """Replaying 2024-06 with a model trained through 2024-12 would be reading the future: refused, and an older
    version trained before the replay's time answers instead."""
    from datetime import UTC, datetime

    from trading import clock as trading_clock

    with django_capture_on_commit_callbacks(execute=True):
        trading_clock.replay_start(start=datetime(2024, 6, 1, tzinfo=UTC), timeframe="1d")
    response = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 404 and "would know the future" in response.json()["error"]["message"]
    older = regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
    assert older.train_end < datetime(2024, 6, 1, tzinfo=UTC)  # trained on the candles the clock has closed
    body = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"}).json()
    assert body["model"]["version"] == older.version and body["as_of"] == "2024-06-01T00:00:00Z"


def test_market_lists_parse_symbols_with_a_colon():
    assert regimes.parse_market("okx:BTC/USDT:USDT:1h") == ("okx", "BTC/USDT:USDT", "1h")
    assert regimes.parse_market("Binance:ETHUSDT:1d") == ("binance", "ETH/USDT", "1d")
    assert regimes.parse_market("nonsense") is None and regimes.parse_market("binance:BTC/USDT:7m") is None


def test_published_marketplace_strategies_are_part_of_the_evidence(stored, django_user_model):
    from analytics.market_regime import recommended
    from marketplace.models import Listing
    from tests.marketplace.conftest import published

    creator = django_user_model.objects.create_user(email="creator@example.com", password="x-1234567")
    staff = django_user_model.objects.create_user(email="staff@example.com", password="x-1234567", is_staff=True)
    daily = published(creator, staff, "SMA daily", timeframe="1d", markets=["ETH/USDT"])
    hourly = published(creator, staff, "SMA hourly", timeframe="1h", markets=["ETH/USDT"])
    hidden = published(creator, staff, "SMA unlisted", timeframe="1d", markets=["ETH/USDT"])
    Listing.objects.filter(id=hidden.id).update(status=Listing.Status.UNLISTED)
    slug = daily.released.script_version.slug
    row = regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
    # the built-ins and the published daily listing; not the hourly one nor the unlisted one
    assert set(row.evidence) == {*REGISTRY, slug}
    assert hourly.released.script_version.slug not in row.evidence
    assert sum(stats["trades"] for stats in row.evidence[slug].values()) > 0
    # a marketplace strategy that made money in a regime is recommended there, named and marked as such
    regime_name = next(n for n, s in row.evidence[slug].items() if s["trades"] >= 5 and s["mean_return"] > 0)
    found = next(r for r in recommended(row.evidence, regime_name) if r["strategy"] == slug)
    assert found["source"] == "marketplace" and found["name"].startswith("SMA daily")
