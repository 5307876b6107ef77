"""Market regime detection (pure: no Django).

**The four regimes** are defined from what happened over the ``horizon`` bars after bar t (one day of bars on
intraday timeframes, 5 bars on 1d), measured against the volatility known at t:

- σ_t: standard deviation of the bar log returns over the ``trail`` bars up to t (30 days of bars; 60 on 1d);
- R: the forward log return log(close_{t+h} / close_t);  V: the standard deviation of the h forward bar returns.

1. ``volatile`` when V ≥ 1.5 σ_t (the next day is much rougher than the last month);
2. otherwise ``trending_up`` when R ≥ +0.5 σ_t √h and ``trending_down`` when R ≤ −0.5 σ_t √h (a move of at least
   half the usual noise of the horizon);
3. otherwise ``ranging``.

The last h bars have no label yet (their future is unknown), nor do bars before the trail window is full.

**Walk-forward evaluation.** The labelled rows are cut in time: the first 40 % only train, the rest is split into
``folds`` consecutive test blocks. Each block is predicted by models trained on every row before it, **purged**:
a training row t is dropped when t + h reaches into the test block, so no label built from a bar of the test
block is ever learnt. Reported per block and over all blocks: accuracy, balanced accuracy, per-class precision
and recall, the confusion matrix, and the same for the naive baseline — at bar t, the last regime already known
(the label of bar t − h, whose future ends at t).

**Model choice.** A random forest and a histogram gradient boosting are each trained on the rows before the
validation window (the last 15 % of labelled rows, purged the same way) and scored there by balanced accuracy;
the better one (the forest on a tie) is kept and refit on every labelled row. The holdout model (the one trained
before the validation window) is kept too: it is what a later version is compared with on its own validation
window, where neither has seen a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, precision_recall_fscore_support
from threadpoolctl import threadpool_limits

from analytics.features import DAY_MS, feature_frame, windows

REGIMES: tuple[str, ...] = ("trending_up", "trending_down", "ranging", "volatile")
TREND_K = 0.5
VOL_MULT = 1.5
VALIDATION_FRACTION = 0.15
FIRST_TRAIN_FRACTION = 0.4
MIN_ROWS = 500


class RegimeError(ValueError):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LabelRule:
    horizon: int  # bars ahead
    trail: int  # bars behind for σ_t
    trend_k: float = TREND_K
    vol_mult: float = VOL_MULT

    def as_dict(self) -> dict[str, Any]:
        return {"horizon": self.horizon, "trail": self.trail, "trend_k": self.trend_k, "vol_mult": self.vol_mult}


def rule_for(timeframe_ms: int) -> LabelRule:
    horizon = 5 if timeframe_ms >= DAY_MS else DAY_MS // timeframe_ms
    return LabelRule(horizon=int(horizon), trail=windows(timeframe_ms)[3])


def labels(close: pd.Series, rule: LabelRule) -> pd.Series:
    """The regime code (index into REGIMES) of every bar; NaN where it is not defined (see the docstring)."""
    log_close = np.log(close.astype(np.float64).to_numpy())
    n = len(log_close)
    h = rule.horizon
    r = np.diff(log_close, prepend=np.nan)
    sigma = pd.Series(r).rolling(rule.trail).std(ddof=1).to_numpy()
    forward = np.full(n, np.nan)
    forward[: n - h] = log_close[h:] - log_close[: n - h]
    # V at t: std of r[t+1 .. t+h] = the rolling std of h values ending at t+h, moved back by h.
    rolled = pd.Series(r).rolling(h).std(ddof=1).to_numpy()
    forward_vol = np.full(n, np.nan)
    forward_vol[: n - h] = rolled[h:]
    band = rule.trend_k * sigma * np.sqrt(h)
    code = np.where(
        forward_vol >= rule.vol_mult * sigma,
        3.0,
        np.where(forward >= band, 0.0, np.where(forward <= -band, 1.0, 2.0)),
    )
    code[np.isnan(sigma) | np.isnan(forward) | np.isnan(forward_vol)] = np.nan
    return pd.Series(code, index=close.index, name="regime")


@dataclass
class Dataset:
    """Features and labels of one market, row by row in time. ``pos`` is each row's bar position in the candles."""

    features: pd.DataFrame  # every bar with full windows (the last one is the bar to predict)
    label: pd.Series  # aligned to features; NaN where not yet known
    pos: np.ndarray
    rule: LabelRule

    @property
    def names(self) -> list[str]:
        return list(self.features.columns)

    def labelled(self) -> np.ndarray:
        return ~np.isnan(self.label.to_numpy())


def dataset(
    candles: pd.DataFrame, *, timeframe_ms: int, btc_close: pd.Series | None = None, rule: LabelRule | None = None
) -> Dataset:
    rule = rule or rule_for(timeframe_ms)
    feats = feature_frame(candles, timeframe_ms=timeframe_ms, btc_close=btc_close)
    lab = labels(candles["close"], rule).reindex(feats.index)
    pos = candles.index.get_indexer(feats.index)
    return Dataset(feats, lab, pos.astype(np.int64), rule)


# --- models -------------------------------------------------------------------------------------------


def _forest(seed: int) -> Any:
    return RandomForestClassifier(
        n_estimators=150,
        max_depth=12,
        min_samples_leaf=25,
        max_features="sqrt",
        class_weight="balanced_subsample",
        n_jobs=1,
        random_state=seed,
    )


def _boosting(seed: int) -> Any:
    return HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=31,
        min_samples_leaf=50,
        l2_regularization=1.0,
        class_weight="balanced",
        early_stopping=False,
        random_state=seed,
    )


MODELS: dict[str, Callable[[int], Any]] = {"random_forest": _forest, "gradient_boosting": _boosting}


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-regime precision/recall/support and the confusion matrix (rows: true,
    columns: predicted, in REGIMES order)."""
    codes = list(range(len(REGIMES)))
    precision, recall, _, support = precision_recall_fscore_support(y_true, y_pred, labels=codes, zero_division=0)
    return {
        "rows": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "per_class": {
            name: {"precision": float(precision[k]), "recall": float(recall[k]), "support": int(support[k])}
            for k, name in enumerate(REGIMES)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=codes).tolist(),
    }


def _baseline(data: Dataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The naive forecast for ``rows`` (indices into data): the label of the bar h earlier (known at t). Rows whose
    earlier bar has no label are left out; returns (kept rows, predictions)."""
    by_pos = pd.Series(data.label.to_numpy(), index=data.pos)
    earlier = by_pos.reindex(data.pos[rows] - data.rule.horizon).to_numpy()
    keep = ~np.isnan(earlier)
    return rows[keep], earlier[keep].astype(int)


def _train_rows(data: Dataset, before_pos: int) -> np.ndarray:
    """Labelled rows whose label's future ends before ``before_pos`` (the purge)."""
    mask = data.labelled() & (data.pos + data.rule.horizon < before_pos)
    return np.flatnonzero(mask)


def fit(kind: str, data: Dataset, rows: np.ndarray, *, seed: int = 0) -> Any:
    y = data.label.to_numpy()[rows].astype(int)
    if len(np.unique(y)) < 2:
        raise RegimeError("The training window holds a single regime: a model cannot learn from it.", code="one_class")
    model = MODELS[kind](seed)
    with threadpool_limits(limits=1):  # one core: training shares the machine with the trading workers
        model.fit(data.features.to_numpy()[rows], y)
    return model


def predict_codes(model: Any, x: np.ndarray) -> np.ndarray:
    """Predicted regime codes; a class the model never saw in training cannot be predicted."""
    return np.asarray(model.predict(x)).astype(int)


def probabilities(model: Any, x: np.ndarray) -> np.ndarray:
    """Rows × 4 probabilities in REGIMES order (0 for a class the model never saw)."""
    raw = model.predict_proba(x)
    out = np.zeros((len(x), len(REGIMES)))
    out[:, np.asarray(model.classes_).astype(int)] = raw
    return out


def score(model: Any, data: Dataset, rows: np.ndarray) -> dict[str, Any]:
    y = data.label.to_numpy()[rows].astype(int)
    return metrics(y, predict_codes(model, data.features.to_numpy()[rows]))


# --- walk-forward ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    start_pos: int  # first bar of the test block
    end_pos: int  # last bar
    train_rows: int
    test_rows: int
    model: dict[str, Any]
    baseline: dict[str, Any]


@dataclass
class WalkForward:
    kind: str
    blocks: list[Block]
    overall: dict[str, Any]
    baseline: dict[str, Any]
    label_shares: dict[str, float]
    seconds: float
    # every tested row (indices into the dataset) and its out-of-sample probabilities (rows × 4, REGIMES order)
    tested: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    probabilities: np.ndarray = field(default_factory=lambda: np.empty((0, len(REGIMES))))


def walk_forward(data: Dataset, *, kind: str, folds: int = 5, seed: int = 0) -> WalkForward:
    """Expanding-window walk-forward evaluation of one model kind (see the module's docstring)."""
    started = time.perf_counter()
    labelled = np.flatnonzero(data.labelled())
    if len(labelled) < MIN_ROWS:
        raise RegimeError(
            f"{len(labelled)} labelled bars: at least {MIN_ROWS} are needed for a walk-forward test.",
            code="too_little_data",
        )
    first = int(len(labelled) * FIRST_TRAIN_FRACTION)
    edges = np.linspace(first, len(labelled), folds + 1).astype(int)
    y_all = data.label.to_numpy()
    blocks: list[Block] = []
    true_all: list[np.ndarray] = []
    pred_all: list[np.ndarray] = []
    base_true: list[np.ndarray] = []
    base_pred: list[np.ndarray] = []
    tested: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    for k in range(folds):
        test = labelled[edges[k] : edges[k + 1]]
        if not len(test):
            continue
        start_pos = int(data.pos[test[0]])
        train = _train_rows(data, start_pos)
        model = fit(kind, data, train, seed=seed)
        y = y_all[test].astype(int)
        pred = predict_codes(model, data.features.to_numpy()[test])
        tested.append(test)
        probs.append(probabilities(model, data.features.to_numpy()[test]))
        kept, naive = _baseline(data, test)
        blocks.append(
            Block(
                start_pos=start_pos,
                end_pos=int(data.pos[test[-1]]),
                train_rows=len(train),
                test_rows=len(test),
                model=metrics(y, pred),
                baseline=metrics(y_all[kept].astype(int), naive),
            )
        )
        true_all.append(y)
        pred_all.append(pred)
        base_true.append(y_all[kept].astype(int))
        base_pred.append(naive)
    shares = {name: float(np.mean(y_all[labelled] == k)) for k, name in enumerate(REGIMES)}
    return WalkForward(
        kind=kind,
        blocks=blocks,
        overall=metrics(np.concatenate(true_all), np.concatenate(pred_all)),
        baseline=metrics(np.concatenate(base_true), np.concatenate(base_pred)),
        label_shares=shares,
        seconds=time.perf_counter() - started,
        tested=np.concatenate(tested),
        probabilities=np.concatenate(probs),
    )


# --- training a live model ---------------------------------------------------------------------------------


@dataclass
class Trained:
    kind: str
    model: Any  # refit on every labelled row: the one that answers
    holdout: Any  # trained before the validation window: the one a later version is compared with
    validation: dict[str, dict[str, Any]]  # kind → metrics on the validation window
    baseline: dict[str, Any]  # the naive forecast on the same window
    validation_start_pos: int
    train_rows: int
    rows: int
    features: list[str]
    importances: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def validation_rows(data: Dataset, start_pos: int) -> np.ndarray:
    return np.flatnonzero(data.labelled() & (data.pos >= start_pos))


def train(data: Dataset, *, seed: int = 0, kinds: Sequence[str] = tuple(MODELS)) -> Trained:
    started = time.perf_counter()
    labelled = np.flatnonzero(data.labelled())
    if len(labelled) < MIN_ROWS:
        raise RegimeError(
            f"{len(labelled)} labelled bars: at least {MIN_ROWS} are needed to train a regime model.",
            code="too_little_data",
        )
    start_pos = int(data.pos[labelled[int(len(labelled) * (1 - VALIDATION_FRACTION))]])
    train_rows = _train_rows(data, start_pos)
    val = validation_rows(data, start_pos)
    fitted: dict[str, Any] = {}
    scores: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        fitted[kind] = fit(kind, data, train_rows, seed=seed)
        scores[kind] = score(fitted[kind], data, val)
    best = max(kinds, key=lambda k: (scores[k]["balanced_accuracy"], k == "random_forest"))
    final = fit(best, data, labelled, seed=seed)
    kept, naive = _baseline(data, val)
    importances: dict[str, float] = {}
    if hasattr(final, "feature_importances_"):
        importances = {name: float(value) for name, value in zip(data.names, final.feature_importances_, strict=True)}
    return Trained(
        kind=best,
        model=final,
        holdout=fitted[best],
        validation=scores,
        baseline=metrics(data.label.to_numpy()[kept].astype(int), naive),
        validation_start_pos=start_pos,
        train_rows=len(train_rows),
        rows=len(labelled),
        features=data.names,
        importances=importances,
        seconds=time.perf_counter() - started,
    )


# --- evidence: strategies' trades by regime -------------------------------------------------------------------


def by_regime(entry_pos: np.ndarray, returns: np.ndarray, label: pd.Series) -> dict[str, dict[str, float]]:
    """Trades split by the regime their entry bar turned out to be in (the realised label): count, win rate and
    mean return per trade. ``entry_pos``: each trade's entry bar position in the candles ``label`` was built on."""
    codes = label.to_numpy()
    out: dict[str, dict[str, float]] = {}
    inside = (entry_pos >= 0) & (entry_pos < len(codes))
    entry_pos, returns = entry_pos[inside], returns[inside]
    regime = codes[entry_pos]
    for k, name in enumerate(REGIMES):
        chosen = returns[regime == k]
        out[name] = {
            "trades": len(chosen),
            "win_rate": float(np.mean(chosen > 0)) if len(chosen) else 0.0,
            "mean_return": float(np.mean(chosen)) if len(chosen) else 0.0,
        }
    return out


def runs(times: pd.DatetimeIndex, codes: np.ndarray, *, step: pd.Timedelta) -> list[list[str]]:
    """Consecutive bars of one regime as ``[first bar's open, last bar's close, regime]`` (ISO times): what a timeline
    draws. A missing bar or an undefined code (NaN) ends a run, so a gap in the candles is left blank."""
    out: list[list[str]] = []
    start = last = None
    current = -1
    for t, code in zip(times, codes, strict=True):
        same = not np.isnan(code) and int(code) == current and last is not None and t - last == step
        if same:
            last = t
            continue
        if current >= 0 and start is not None and last is not None:
            out.append([start.isoformat(), (last + step).isoformat(), REGIMES[current]])
        current, start, last = (-1, None, None) if np.isnan(code) else (int(code), t, t)
    if current >= 0 and start is not None and last is not None:
        out.append([start.isoformat(), (last + step).isoformat(), REGIMES[current]])
    return out
