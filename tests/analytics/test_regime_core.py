"""The regime core on real candles: no feature sees a later bar, the labels follow their definition, the
walk-forward never trains on a label whose future reaches into the test block, and the model choice is the one
its validation scores say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import features, regime
from tests.analytics.conftest import OHLCV

DAY = 86_400_000
HOUR = 3_600_000


def candles(coin: str, timeframe: str = "1d") -> pd.DataFrame:
    return pd.read_csv(
        OHLCV / f"binance_{coin}USDT_{timeframe}.csv.gz", parse_dates=["timestamp"], index_col="timestamp"
    )


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return candles("BTC")


@pytest.fixture(scope="module")
def eth() -> pd.DataFrame:
    return candles("ETH")


@pytest.mark.parametrize("cut", [200, 700, 1400])
def test_no_feature_sees_a_later_bar(btc, eth, cut):
    """Every bar after ``cut`` is replaced by noise (prices, volume, BTC's closes too): the features of the bars up
    to ``cut`` do not move, to the last bit."""
    before = features.feature_frame(eth, timeframe_ms=DAY, btc_close=btc["close"])
    rng = np.random.default_rng(cut)
    changed = eth.copy()
    later = changed.index[cut + 1 :]
    factor = rng.uniform(0.5, 2.0, size=len(later))
    for column in ("open", "high", "low", "close"):
        changed.loc[later, column] = changed.loc[later, column] * factor
    changed.loc[later, "volume"] = rng.uniform(0, 1e6, size=len(later))
    btc_changed = btc["close"].copy()
    btc_changed.loc[btc_changed.index[cut + 1 :]] *= rng.uniform(0.5, 2.0, size=len(btc_changed) - cut - 1)
    after = features.feature_frame(changed, timeframe_ms=DAY, btc_close=btc_changed)
    upto = eth.index[cut]
    pd.testing.assert_frame_equal(before.loc[:upto], after.loc[:upto], check_exact=True)
    assert len(before.loc[:upto]) > 0
    # and the noise does reach the later features: the test can fail
    assert not np.allclose(before.loc[upto:].iloc[1:5].to_numpy(), after.loc[upto:].iloc[1:5].to_numpy())


def test_a_label_is_built_only_from_its_own_horizon(btc):
    """The label of bar t reads the trail window behind t and the h bars after it, nothing beyond t + h."""
    rule = regime.rule_for(DAY)
    base = regime.labels(btc["close"], rule)
    t = 900
    changed = btc["close"].copy()
    changed.iloc[t + rule.horizon + 1 :] *= 3.0
    after = regime.labels(changed, rule)
    assert base.iloc[: t + 1].equals(after.iloc[: t + 1])
    inside = btc["close"].copy()
    inside.iloc[t + 1 : t + rule.horizon + 1] *= 3.0  # a jump inside t's horizon does reach t's label
    assert regime.labels(inside, rule).iloc[t] == 3
    assert np.isnan(base.iloc[-rule.horizon :]).all()  # the last h bars have no label yet
    assert np.isnan(base.iloc[: rule.trail]).all()


def test_labels_follow_their_definition():
    rule = regime.LabelRule(horizon=5, trail=20)
    rng = np.random.default_rng(3)
    quiet = rng.normal(0, 0.01, 60)
    # a steady climb after a quiet month, a steady fall, a flat stretch, then a wild one
    steps = np.concatenate([quiet, np.full(10, 0.01), np.full(10, -0.01), rng.normal(0, 0.002, 10), quiet[:5] * 8])
    close = pd.Series(100 * np.exp(np.cumsum(steps)))
    lab = regime.labels(close, rule)
    r = np.diff(np.log(close.to_numpy()), prepend=np.nan)
    for t in range(rule.trail, len(close) - rule.horizon):
        sigma = np.std(r[t - rule.trail + 1 : t + 1], ddof=1)
        fwd = np.log(close.iloc[t + rule.horizon] / close.iloc[t])
        fvol = np.std(r[t + 1 : t + rule.horizon + 1], ddof=1)
        band = 0.5 * sigma * np.sqrt(rule.horizon)
        want = 3 if fvol >= 1.5 * sigma else 0 if fwd >= band else 1 if fwd <= -band else 2
        assert lab.iloc[t] == want, t
    assert lab.iloc[60] == 0 and lab.iloc[71] == 1  # inside the climb, inside the fall
    assert lab.iloc[len(close) - rule.horizon - 5] == 3  # just before the wild stretch


@pytest.fixture(scope="module")
def data(btc, eth):
    return regime.dataset(eth, timeframe_ms=DAY, btc_close=btc["close"])


def test_walk_forward_is_purged_and_reports_against_the_baseline(data, monkeypatch):
    calls = []
    real_fit = regime.fit

    def spy(kind, d, rows, *, seed=0):
        calls.append(rows.copy())
        return real_fit(kind, d, rows, seed=seed)

    monkeypatch.setattr(regime, "fit", spy)
    report = regime.walk_forward(data, kind="random_forest", folds=4)
    assert len(report.blocks) == 4 == len(calls)
    h = data.rule.horizon
    previous_end = -1
    for block, rows in zip(report.blocks, calls, strict=True):
        # no training row's label reaches the test block: t + h < first test bar
        assert data.pos[rows].max() + h < block.start_pos
        assert data.labelled()[rows].all()
        assert block.start_pos > previous_end
        previous_end = block.end_pos
        assert sum(map(sum, block.model["confusion"])) == block.test_rows
    assert report.overall["rows"] == sum(b.test_rows for b in report.blocks)
    assert 0 <= report.overall["balanced_accuracy"] <= 1
    assert abs(sum(report.label_shares.values()) - 1) < 1e-9
    # the baseline is the label h bars earlier: recompute it for the first block by hand
    first = report.blocks[0]
    by_pos = pd.Series(data.label.to_numpy(), index=data.pos)
    test_pos = data.pos[data.labelled() & (data.pos >= first.start_pos) & (data.pos <= first.end_pos)]
    truth = by_pos.loc[test_pos].to_numpy()
    naive = by_pos.reindex(test_pos - h).to_numpy()
    keep = ~np.isnan(naive)
    assert first.baseline["accuracy"] == pytest.approx(np.mean(truth[keep] == naive[keep]))


def test_a_leaking_feature_would_be_caught(data):
    """The evaluation is able to see a leak: give the model the future itself as a feature and its walk-forward
    score jumps far above the honest one."""
    honest = regime.walk_forward(data, kind="gradient_boosting", folds=3)
    leaky = regime.Dataset(data.features.assign(future=data.label.fillna(-1)), data.label, data.pos, data.rule)
    cheat = regime.walk_forward(leaky, kind="gradient_boosting", folds=3)
    assert cheat.overall["balanced_accuracy"] > 0.95 > honest.overall["balanced_accuracy"] + 0.2


def test_training_keeps_the_better_kind_and_a_holdout_before_validation(data, monkeypatch):
    calls = []
    real_fit = regime.fit

    def spy(kind, d, rows, *, seed=0):
        calls.append((kind, rows.copy()))
        return real_fit(kind, d, rows, seed=seed)

    monkeypatch.setattr(regime, "fit", spy)
    trained = regime.train(data)
    scores = {k: v["balanced_accuracy"] for k, v in trained.validation.items()}
    assert trained.kind == max(scores, key=lambda k: (scores[k], k == "random_forest"))
    (k1, r1), (k2, _), (k3, r3) = calls
    assert {k1, k2} == set(regime.MODELS) and k3 == trained.kind
    assert data.pos[r1].max() + data.rule.horizon < trained.validation_start_pos
    assert len(r3) == trained.rows == data.labelled().sum()  # the final model: every labelled row
    probs = regime.probabilities(trained.model, data.features.to_numpy()[-3:])
    assert probs.shape == (3, 4) and np.allclose(probs.sum(axis=1), 1)


def test_too_little_data_and_one_class_are_refused(data):
    small = regime.Dataset(data.features.iloc[:300], data.label.iloc[:300], data.pos[:300], data.rule)
    with pytest.raises(regime.RegimeError) as exc:
        regime.train(small)
    assert exc.value.code == "too_little_data"
    flat = regime.Dataset(data.features, data.label.where(data.label.isna(), 2.0), data.pos, data.rule)
    with pytest.raises(regime.RegimeError) as exc:
        regime.train(flat)
    assert exc.value.code == "one_class"


def test_trades_split_by_regime():
    label = pd.Series([0.0, 0.0, 1.0, 2.0, 3.0, np.nan])
    out = regime.by_regime(np.array([0, 1, 2, 3, 3, 5, 9]), np.array([0.1, -0.05, 0.2, -0.1, 0.3, 0.5, 1.0]), label)
    assert out["trending_up"] == {"trades": 2, "win_rate": 0.5, "mean_return": pytest.approx(0.025)}
    assert out["trending_down"]["trades"] == 1 and out["ranging"]["trades"] == 2
    assert out["ranging"]["mean_return"] == pytest.approx(0.1)
    assert out["volatile"] == {"trades": 0, "win_rate": 0.0, "mean_return": 0.0}


def test_windows_scale_with_the_timeframe():
    assert features.windows(HOUR) == (24, 72, 168, 720)
    assert features.windows(DAY) == (5, 10, 20, 60)
    assert regime.rule_for(HOUR) == regime.LabelRule(horizon=24, trail=720)
    assert regime.rule_for(DAY).horizon == 5
