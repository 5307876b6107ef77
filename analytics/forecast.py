"""Price forecasts with intervals, and the probability that a trade ends in profit (pure: no Django).

**Forecasts.** For each horizon of 1, 3 and 7 days the target is the forward log return of the daily close,
y_t = ln(close_{t+h} / close_t), and three models of scikit-learn's histogram gradient boosting with the quantile
(pinball) loss predict its 10th, 50th and 90th percentiles from the features of ``analytics/features.py`` (the
regime model's). The forecast price is close_t · e^q; [q10, q90] is the 80 % interval. Crossing quantiles (rare)
are sorted.

**Coverage is measured, not assumed.** The walk-forward (as the regime model's: the first 40 % of rows only
train, then 5 consecutive test blocks, each predicted by models trained on every earlier row whose target ends
before the block) counts how often the realised return fell inside the interval — an 80 % interval that covers
62 % is reported as 62 % — and the median absolute error of the median forecast against the naive forecast of
no change (q50 = 0), and how often the median forecast had the sign of what happened (its direction).

**Probability of profit.** A trade (side, entry, stop-loss, take-profit, horizon in bars) is played on ``paths``
scenarios of the next bars, each a moving-block bootstrap of the market's recent bar log returns (blocks of
∛n bars keep volatility clusters). A path ends at the first bar whose high reaches the take-profit or whose low
the stop-loss (for a short, the other way round; a bar that touches both counts as the stop, as the backtest
does), or at the horizon's close. The probability of profit is the share of paths that end above the entry
(after fees on both sides), the expected value is the mean result times the position's size, and the risk/reward
ratio is |take-profit − entry| / |entry − stop-loss|. The bars' highs and lows come from the same block: each
bootstrapped bar keeps its own (high − close) and (close − low) in log terms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from analytics.features import DAY_MS, feature_frame

HORIZONS_DAYS = (1, 3, 7)
QUANTILES = (0.1, 0.5, 0.9)
FOLDS = 5
FIRST_TRAIN_FRACTION = 0.4
MIN_ROWS = 300


class ForecastError(ValueError):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def _model(q: float, seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        loss="quantile",
        quantile=q,
        max_iter=150,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


def daily(candles: pd.DataFrame) -> pd.DataFrame:
    """Daily candles (UTC days) from candles of any shorter timeframe; days with no candle are left out."""
    rule = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return candles.resample("1D").agg(rule).dropna()


@dataclass
class Data:
    features: pd.DataFrame
    close: pd.Series  # aligned to features
    targets: dict[int, pd.Series]  # horizon days → forward log return (NaN where unknown)
    pos: np.ndarray  # each row's position in the daily candles


def dataset(days: pd.DataFrame, *, btc_close: pd.Series | None = None) -> Data:
    feats = feature_frame(days, timeframe_ms=DAY_MS, btc_close=btc_close)
    log_close = np.log(days["close"].astype(np.float64))
    targets = {h: (log_close.shift(-h) - log_close).reindex(feats.index) for h in HORIZONS_DAYS}
    return Data(feats, days["close"].reindex(feats.index), targets, days.index.get_indexer(feats.index))


def _fit(x: np.ndarray, y: np.ndarray, seed: int) -> list[Any]:
    with threadpool_limits(limits=1):
        return [_model(q, seed).fit(x, y) for q in QUANTILES]


def _predict(models: list[Any], x: np.ndarray) -> np.ndarray:
    with threadpool_limits(limits=1):
        out = np.column_stack([m.predict(x) for m in models])
    return np.sort(out, axis=1)  # crossing quantiles are sorted


@dataclass
class Coverage:
    horizon: int
    rows: int
    coverage: float  # share of realised returns inside [q10, q90]
    nominal: float  # 0.8
    below: float  # share under q10
    above: float  # share over q90
    mae_median: float  # median |y - q50|
    mae_naive: float  # median |y| (the forecast of no change)
    direction: float  # share of rows where the median forecast had the sign of the realised return
    blocks: list[float]  # coverage per block
    tested: np.ndarray | None = None  # the tested rows (indices into the data) …
    quantiles: np.ndarray | None = None  # … and their out-of-sample q10, q50, q90 (rows × 3)


def walk_forward(data: Data, *, seed: int = 0, folds: int = FOLDS) -> dict[int, Coverage]:
    out: dict[int, Coverage] = {}
    x_all = data.features.to_numpy()
    for h, target in data.targets.items():
        y_all = target.to_numpy()
        known = np.flatnonzero(~np.isnan(y_all))
        if len(known) < MIN_ROWS:
            raise ForecastError(
                f"{len(known)} days with a known {h}-day return: at least {MIN_ROWS} are needed.",
                code="too_little_data",
            )
        edges = np.linspace(int(len(known) * FIRST_TRAIN_FRACTION), len(known), folds + 1).astype(int)
        inside, below, above, err, naive, blocks, sign = [], [], [], [], [], [], []
        tested, predicted = [], []
        for k in range(folds):
            test = known[edges[k] : edges[k + 1]]
            if not len(test):
                continue
            start = data.pos[test[0]]
            train = known[data.pos[known] + h < start]  # purged: the target ends before the block
            q = _predict(_fit(x_all[train], y_all[train], seed), x_all[test])
            tested.append(test)
            predicted.append(q)
            y = y_all[test]
            hit = (y >= q[:, 0]) & (y <= q[:, 2])
            inside.append(hit)
            below.append(y < q[:, 0])
            above.append(y > q[:, 2])
            err.append(np.abs(y - q[:, 1]))
            naive.append(np.abs(y))
            sign.append(np.sign(q[:, 1]) == np.sign(y))
            blocks.append(float(hit.mean()))
        hits = np.concatenate(inside)
        out[h] = Coverage(
            horizon=h,
            rows=len(hits),
            coverage=float(hits.mean()),
            nominal=QUANTILES[2] - QUANTILES[0],
            below=float(np.concatenate(below).mean()),
            above=float(np.concatenate(above).mean()),
            mae_median=float(np.median(np.concatenate(err))),
            mae_naive=float(np.median(np.concatenate(naive))),
            direction=float(np.concatenate(sign).mean()),
            blocks=blocks,
            tested=np.concatenate(tested),
            quantiles=np.concatenate(predicted),
        )
    return out


@dataclass
class Forecaster:
    models: dict[int, list[Any]]
    features: list[str]
    rows: int
    seconds: float


def train(data: Data, *, seed: int = 0) -> Forecaster:
    started = time.perf_counter()
    x_all = data.features.to_numpy()
    models = {}
    rows = 0
    for h, target in data.targets.items():
        y_all = target.to_numpy()
        known = ~np.isnan(y_all)
        if known.sum() < MIN_ROWS:
            raise ForecastError(
                f"{int(known.sum())} days with a known {h}-day return: at least {MIN_ROWS} are needed.",
                code="too_little_data",
            )
        models[h] = _fit(x_all[known], y_all[known], seed)
        rows = max(rows, int(known.sum()))
    return Forecaster(models, list(data.features.columns), rows, time.perf_counter() - started)


def predict(forecaster: Forecaster, features_row: np.ndarray, close: float) -> dict[int, dict[str, float]]:
    """Forecast prices of each horizon from the last day's features: low (q10), median (q50), high (q90)."""
    out = {}
    for h, models in forecaster.models.items():
        q = _predict(models, features_row.reshape(1, -1))[0]
        out[h] = {
            "low": close * float(np.exp(q[0])),
            "median": close * float(np.exp(q[1])),
            "high": close * float(np.exp(q[2])),
        }
    return out


# --- probability of profit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trade:
    side: str  # long or short
    entry: float
    stop_loss: float | None
    take_profit: float | None
    horizon_bars: int
    fee_rate: float = 0.001  # per side


@dataclass(frozen=True)
class Outcome:
    probability_of_profit: float
    probability_take_profit: float
    probability_stop_loss: float
    expected_return: float  # mean return on the position's notional, after fees
    risk_reward_ratio: float | None
    paths: int
    median_bars_held: float


def check_trade(trade: Trade) -> None:
    if trade.side not in ("long", "short"):
        raise ForecastError("The side is long or short.", code="bad_side")
    if not trade.entry > 0:
        raise ForecastError("The entry price must be above 0.", code="bad_entry")
    sign = 1 if trade.side == "long" else -1
    for level, code in ((trade.stop_loss, "bad_stop_loss"), (trade.take_profit, "bad_take_profit")):
        if level is not None and not level > 0:
            raise ForecastError("A stop-loss or take-profit price must be above 0.", code=code)
    if trade.stop_loss is not None and not sign * (trade.entry - trade.stop_loss) > 0:
        raise ForecastError("The stop-loss must be on the losing side of the entry.", code="bad_stop_loss")
    if trade.take_profit is not None and not sign * (trade.take_profit - trade.entry) > 0:
        raise ForecastError("The take-profit must be on the winning side of the entry.", code="bad_take_profit")
    if not 1 <= trade.horizon_bars <= 10_000:
        raise ForecastError("The horizon is 1 to 10,000 bars.", code="bad_horizon")


def bar_moves(candles: pd.DataFrame) -> np.ndarray:
    """Per bar (rows): log return close-to-close, log(high / close), log(low / close)."""
    close = candles["close"].to_numpy(dtype=np.float64)
    r = np.diff(np.log(close))
    up = np.log(candles["high"].to_numpy(dtype=np.float64)[1:] / close[1:])
    down = np.log(candles["low"].to_numpy(dtype=np.float64)[1:] / close[1:])
    return np.column_stack([r, up, down])


def _play(trade: Trade, moves: np.ndarray, paths: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """One chunk of paths: (result, took, stopped, held) per path."""
    n = len(moves)
    h = trade.horizon_bars
    block = max(1, round(n ** (1 / 3)))
    starts = rng.integers(0, n - block + 1, size=(paths, -(-h // block)))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(paths, -1)[:, :h]
    path = moves[idx]  # (paths, h, 3)
    log_close = np.cumsum(path[:, :, 0], axis=1)
    high = log_close + path[:, :, 1]
    low = log_close + path[:, :, 2]
    long = trade.side == "long"
    tp = None if trade.take_profit is None else np.log(trade.take_profit / trade.entry)
    sl = None if trade.stop_loss is None else np.log(trade.stop_loss / trade.entry)
    never = h + 1
    hit_tp = np.full(paths, never)
    hit_sl = np.full(paths, never)
    if tp is not None:
        reached = high >= tp if long else low <= tp
        hit_tp = np.where(reached.any(axis=1), reached.argmax(axis=1), never)
    if sl is not None:
        reached = low <= sl if long else high >= sl
        hit_sl = np.where(reached.any(axis=1), reached.argmax(axis=1), never)
    stopped = (hit_sl <= hit_tp) & (hit_sl < never)  # the same bar touching both: the stop (as the backtest)
    took = (hit_tp < hit_sl) & ~stopped
    final_log = log_close[:, -1]
    exit_log = np.where(
        stopped, sl if sl is not None else 0.0, np.where(took, tp if tp is not None else 0.0, final_log)
    )
    gross = np.exp(exit_log) - 1.0
    result = (gross if long else -gross) - trade.fee_rate * (2.0 + gross)  # fees on entry and exit notional
    held = np.where(stopped, hit_sl + 1, np.where(took, hit_tp + 1, h))
    return result, took, stopped, held


CHUNK_CELLS = 600_000  # bars simulated at once (paths × horizon): about 15 MB of float64 per array


def probability_of_profit(trade: Trade, moves: np.ndarray, *, paths: int = 10_000, seed: int = 1) -> Outcome:
    """The trade played on bootstrapped paths of ``moves`` (from :func:`bar_moves`), in chunks of paths so that
    memory stays bounded whatever the horizon."""
    check_trade(trade)
    n = len(moves)
    if n < 30:
        raise ForecastError(f"{n} bars of history: at least 30 are needed to resample.", code="too_little_data")
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_CELLS // trade.horizon_bars)
    parts = [_play(trade, moves, min(chunk, paths - done), rng) for done in range(0, paths, chunk)]
    result, took, stopped, held = (np.concatenate(column) for column in zip(*parts, strict=True))
    rr = None
    if trade.stop_loss is not None and trade.take_profit is not None:
        rr = abs(trade.take_profit - trade.entry) / abs(trade.entry - trade.stop_loss)
    return Outcome(
        probability_of_profit=float((result > 0).mean()),
        probability_take_profit=float(took.mean()),
        probability_stop_loss=float(stopped.mean()),
        expected_return=float(result.mean()),
        risk_reward_ratio=rr,
        paths=paths,
        median_bars_held=float(np.median(held)),
    )
