"""The AI signal: one buy / hold / sell per market from the six strategies' votes, the regime model and the price
forecast, with weights learned walk-forward and its own track record (pure: no Django).

**What it predicts.** At bar t the signal says what the next day will bring, with the regime model's yardstick:
**buy** when the forward return over h bars (one day) is at least +0.5 σ_t √h, **sell** when it is at most
−0.5 σ_t √h, **hold** otherwise (σ_t: the volatility of the last 30 days of bars, known at t).

**Inputs at t** (every one known at t):
- the six built-in strategies' stances with their default parameters: +1 when the strategy would hold a long at
  t's close, −1 a short, 0 nothing (as the dashboard's vote);
- the regime model's four probabilities, **out of sample**: from its walk-forward, each bar predicted by a model
  that never saw a label reaching that bar;
- the 1-day forecast's median and the width of its 80 % interval (out of sample, from the forecaster's
  walk-forward; each intraday bar takes the forecast made at the close of the last complete day).
- Sentiment has no history to learn a weight from yet: it is shown beside the signal, not part of it, until
  enough daily snapshots exist (stated with every answer).

**Weights are learned, not set.** A multinomial logistic regression on the standardised inputs (L2, C = 0.1). It is
trained walk-forward on the bars where every input is out of sample: the first 40 % of those bars only train,
then 5 consecutive blocks, each predicted by a model trained on every earlier bar whose label ends before the
block (purged by h). The live model is refit on all of them.

**Track record.** Every tested bar's signal and what followed: accuracy and balanced accuracy against the
majority vote of the six strategies (buy when more are long than short, sell when more are short) and against
always "hold"; how often a buy was followed by a rise and a sell by a fall; the mean forward return after each
signal; and the return of following it — long on buy, short on sell, flat on hold, one position a day (every h
bars), before fees — beside buying and holding over the same bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from strategies.builtin import REGISTRY
from trading.bots import engine

SIGNALS = ("sell", "hold", "buy")  # codes 0, 1, 2
FOLDS = 5
FIRST_TRAIN_FRACTION = 0.4
MIN_ROWS = 400
TREND_K = 0.5


class SignalError(ValueError):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def stances(candles: pd.DataFrame) -> pd.DataFrame:
    """Each built-in strategy's stance at every bar's close (+1 long, −1 short, 0 flat), default parameters, long
    and short allowed — the dashboard's rule, bar by bar."""
    out = {}
    for slug, strategy in REGISTRY.items():
        params = strategy.defaults()
        held: str | None = None
        column = np.zeros(len(candles), dtype=np.int8)
        if len(candles) > strategy.warmup(params):
            frame = strategy.signals(candles, params)
            flags = frame[["long_entry", "long_exit", "short_entry", "short_exit"]].to_numpy(dtype=bool)
            for i, (le, lx, se, sx) in enumerate(flags):
                decision = engine.decide(
                    {"long_entry": le, "long_exit": lx, "short_entry": se, "short_exit": sx},
                    held=held,
                    direction="both",
                )
                if decision.exit:
                    held = None
                if decision.entry and held is None:
                    held = decision.entry
                column[i] = 1 if held == "long" else -1 if held == "short" else 0
        out[slug] = column
    return pd.DataFrame(out, index=candles.index)


def labels(close: pd.Series, *, horizon: int, trail: int, k: float = TREND_K) -> pd.Series:
    """The signal each bar should have given (codes into SIGNALS); NaN where the future or the trail is unknown."""
    log_close = np.log(close.astype(np.float64).to_numpy())
    n = len(log_close)
    r = np.diff(log_close, prepend=np.nan)
    sigma = pd.Series(r).rolling(trail).std(ddof=1).to_numpy()
    forward = np.full(n, np.nan)
    forward[: n - horizon] = log_close[horizon:] - log_close[: n - horizon]
    band = k * sigma * np.sqrt(horizon)
    code = np.where(forward >= band, 2.0, np.where(forward <= -band, 0.0, 1.0))
    code[np.isnan(sigma) | np.isnan(forward)] = np.nan
    return pd.Series(code, index=close.index, name="signal")


def forward_returns(close: pd.Series, horizon: int) -> pd.Series:
    log_close = np.log(close.astype(np.float64))
    return log_close.shift(-horizon) - log_close


@dataclass
class Inputs:
    """The learning table: one row per bar where every input is out of sample."""

    x: pd.DataFrame
    y: pd.Series  # label codes (NaN: unknown yet)
    forward: pd.Series  # the forward log return over the horizon (for the track record)
    pos: np.ndarray  # bar positions in the candles
    horizon: int

    @property
    def names(self) -> list[str]:
        return list(self.x.columns)


def inputs(
    candles: pd.DataFrame,
    *,
    votes: pd.DataFrame,
    regime_probabilities: pd.DataFrame,
    forecast_daily: pd.DataFrame | None,
    horizon: int,
    trail: int,
) -> Inputs:
    """Join the inputs on the candles' bars. ``regime_probabilities``: rows × the four regimes, indexed by bar time,
    out of sample. ``forecast_daily``: per day (index: the day's open), the 1-day forecast's q10/q50/q90 of the log
    return made at that day's close; each bar takes the one of the last day that closed by the bar's close."""
    frame = votes.astype(np.float64).copy()
    frame["votes_net"] = votes.sum(axis=1) / len(votes.columns)
    frame = frame.join(regime_probabilities.add_prefix("p_"), how="inner")
    if forecast_daily is not None and len(forecast_daily):
        # the forecast made at the close of day D is known from D + 1 day on: a bar closing at or after that uses it
        known_from = forecast_daily.index + pd.Timedelta(days=1)
        table = pd.DataFrame(
            {
                "f_median": forecast_daily["q50"].to_numpy(),
                "f_width": (forecast_daily["q90"] - forecast_daily["q10"]).to_numpy(),
            },
            index=known_from,
        )
        step = candles.index[1] - candles.index[0] if len(candles) > 1 else pd.Timedelta(hours=1)
        closes = pd.Series(frame.index + step, index=frame.index)
        looked = pd.merge_asof(
            closes.rename("close_time").reset_index().sort_values("close_time"),
            table.reset_index(names="known_from").sort_values("known_from"),
            left_on="close_time",
            right_on="known_from",
            direction="backward",
            tolerance=pd.Timedelta(days=2),
        ).set_index(frame.index.name or "index")
        looked.index = frame.index
        frame["f_median"] = looked["f_median"].to_numpy()
        frame["f_width"] = looked["f_width"].to_numpy()
    frame = frame.dropna()
    y = labels(candles["close"], horizon=horizon, trail=trail).reindex(frame.index)
    fwd = forward_returns(candles["close"], horizon).reindex(frame.index)
    return Inputs(frame, y, fwd, candles.index.get_indexer(frame.index), horizon)


def _model(seed: int) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500, random_state=seed))


def _fit(data: Inputs, rows: np.ndarray, seed: int) -> Any:
    y = data.y.to_numpy()[rows].astype(int)
    if len(np.unique(y)) < 2:
        raise SignalError("The training bars hold a single outcome: nothing to learn.", code="one_class")
    with threadpool_limits(limits=1):
        return _model(seed).fit(data.x.to_numpy()[rows], y)


def probabilities(model: Any, x: np.ndarray) -> np.ndarray:
    raw = model.predict_proba(x)
    out = np.zeros((len(x), len(SIGNALS)))
    out[:, np.asarray(model.classes_).astype(int)] = raw
    return out


def vote_signal(votes_net: np.ndarray) -> np.ndarray:
    """The six strategies' majority as a signal code: buy when more are long than short, sell when more short."""
    return np.where(votes_net > 0, 2, np.where(votes_net < 0, 0, 1))


def _record(y: np.ndarray, pred: np.ndarray, forward: np.ndarray, horizon: int) -> dict[str, Any]:
    every = np.arange(0, len(pred), horizon)  # one position a day: non-overlapping horizons
    side = np.where(pred == 2, 1.0, np.where(pred == 0, -1.0, 0.0))
    follow = float(np.expm1(np.sum(side[every] * forward[every])))
    hold = float(np.expm1(np.sum(forward[every])))
    buys, sells = pred == 2, pred == 0
    return {
        "rows": len(y),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "shares": {name: float(np.mean(pred == k)) for k, name in enumerate(SIGNALS)},
        "buy_then_rise": float(np.mean(forward[buys] > 0)) if buys.any() else None,
        "sell_then_fall": float(np.mean(forward[sells] < 0)) if sells.any() else None,
        "mean_forward": {
            name: (float(np.mean(forward[pred == k])) if (pred == k).any() else None) for k, name in enumerate(SIGNALS)
        },
        "follow_return": follow,
        "buy_and_hold_return": hold,
        "days": len(every),
    }


@dataclass
class Evaluation:
    model: dict[str, Any]
    votes: dict[str, Any]  # the six strategies' majority, on the same bars
    hold: dict[str, Any]  # always "hold"
    blocks: list[dict[str, Any]]
    tested: np.ndarray  # indices into the inputs
    predicted: np.ndarray
    confidence: np.ndarray
    coefficients: dict[str, dict[str, float]] = field(default_factory=dict)


def walk_forward(data: Inputs, *, seed: int = 0, folds: int = FOLDS) -> Evaluation:
    known = np.flatnonzero(~np.isnan(data.y.to_numpy()))
    if len(known) < MIN_ROWS:
        raise SignalError(
            f"{len(known)} bars with every input out of sample: at least {MIN_ROWS} are needed.", code="too_little_data"
        )
    edges = np.linspace(int(len(known) * FIRST_TRAIN_FRACTION), len(known), folds + 1).astype(int)
    y_all = data.y.to_numpy()
    tested, predicted, confidence, blocks = [], [], [], []
    for k in range(folds):
        test = known[edges[k] : edges[k + 1]]
        if not len(test):
            continue
        start = data.pos[test[0]]
        train = known[data.pos[known] + data.horizon < start]  # purged
        model = _fit(data, train, seed)
        p = probabilities(model, data.x.to_numpy()[test])
        pred = np.argmax(p, axis=1)
        tested.append(test)
        predicted.append(pred)
        confidence.append(p.max(axis=1))
        yk = y_all[test].astype(int)
        blocks.append(
            {
                "start_pos": int(start),
                "rows": len(test),
                "balanced_accuracy": float(balanced_accuracy_score(yk, pred)),
                "votes_balanced_accuracy": float(
                    balanced_accuracy_score(yk, vote_signal(data.x["votes_net"].to_numpy()[test]))
                ),
            }
        )
    rows = np.concatenate(tested)
    pred = np.concatenate(predicted)
    y = y_all[rows].astype(int)
    fwd = data.forward.to_numpy()[rows]
    votes = vote_signal(data.x["votes_net"].to_numpy()[rows])
    return Evaluation(
        model=_record(y, pred, fwd, data.horizon),
        votes=_record(y, votes, fwd, data.horizon),
        hold=_record(y, np.ones_like(y), fwd, data.horizon),
        blocks=blocks,
        tested=rows,
        predicted=pred,
        confidence=np.concatenate(confidence),
    )


@dataclass
class Trained:
    model: Any
    names: list[str]
    rows: int
    coefficients: dict[str, dict[str, float]]  # signal → input → weight (on standardised inputs)


def train(data: Inputs, *, seed: int = 0) -> Trained:
    known = np.flatnonzero(~np.isnan(data.y.to_numpy()))
    if len(known) < MIN_ROWS:
        raise SignalError(
            f"{len(known)} bars with every input out of sample: at least {MIN_ROWS} are needed.", code="too_little_data"
        )
    model = _fit(data, known, seed)
    logistic = model[-1]
    classes = np.asarray(logistic.classes_).astype(int)
    coefficients = {
        SIGNALS[c]: {name: float(w) for name, w in zip(data.names, logistic.coef_[i], strict=True)}
        for i, c in enumerate(classes)
    }
    return Trained(model, data.names, len(known), coefficients)


@dataclass(frozen=True)
class Contribution:
    name: str
    value: float
    weight: float  # toward the chosen signal, on the standardised input

    @property
    def push(self) -> float:
        return self.weight * self.value


def decide(trained: Trained, row: Mapping[str, float]) -> tuple[str, float, dict[str, float], list[Contribution]]:
    """The signal for one bar's inputs: the signal, its probability, all three probabilities, and the inputs'
    contributions toward it (standardised value × weight), largest first."""
    x = np.array([[row[name] for name in trained.names]], dtype=np.float64)
    p = probabilities(trained.model, x)[0]
    best = int(np.argmax(p))
    scaler = trained.model[0]
    z = (x[0] - scaler.mean_) / np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
    weights = trained.coefficients.get(SIGNALS[best], {})
    parts = [Contribution(name, float(z[i]), float(weights.get(name, 0.0))) for i, name in enumerate(trained.names)]
    parts.sort(key=lambda c: -abs(c.push))
    return SIGNALS[best], float(p[best]), {name: float(v) for name, v in zip(SIGNALS, p, strict=True)}, parts
