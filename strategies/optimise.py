"""Parameter search with walk-forward validation (pure: no Django import).

The period is cut into ``folds + 1`` consecutive windows of equal length. Fold *i* searches the
parameters on window *i* (in-sample) and reports the best set on window *i+1* (out-of-sample), which
it has never seen. Each out-of-sample window is preceded by the strategy's warm-up bars so its
indicators are ready, but the backtest starts at the window: no trade and no metric comes from them.
The user sees both scores side by side: a large gap between them is over-fitting.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from strategies.interface import ParamSpec, Strategy, StrategyError, _

# Metric name -> True when higher is better.
METRICS: dict[str, bool] = {
    "sharpe": True,
    "sortino": True,
    "total_return_pct": True,
    "calmar": True,
    "profit_factor": True,
    "win_rate_pct": True,
    "max_drawdown_pct": False,
}
MAX_EVALUATIONS = 2000


@dataclass(frozen=True)
class SearchSpec:
    method: str = "random"  # "grid" or "random"
    metric: str = "sharpe"
    samples: int = 40  # random search: parameter sets tried per fold
    points: int = 5  # grid search: values per parameter
    folds: int = 3
    seed: int = 7

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpec:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, strategy: Strategy, *, bars: int) -> None:
        def fail(field: str, template: str, params: dict[str, Any]) -> None:
            raise StrategyError(template, params, {field: (template, params)})

        if self.method not in ("grid", "random"):
            fail("method", _("Choose grid or random search."), {})
        if self.metric not in METRICS:
            fail("metric", _("Choose one of: %(names)s."), {"names": ", ".join(METRICS)})
        if not 1 <= self.folds <= 6:
            fail("folds", _("Between 1 and 6 walk-forward folds."), {})
        if not 2 <= self.points <= 10:
            fail("points", _("Between 2 and 10 values per parameter."), {})
        if not 1 <= self.samples <= 500:
            fail("samples", _("Between 1 and 500 parameter sets."), {})
        window = bars // (self.folds + 1)
        needed = max_warmup(strategy) * 2 + 2
        if window < needed:
            fail(
                "folds",
                _(
                    "Each of the %(windows)d windows would hold %(bars)d candles; %(needed)d are needed. "
                    "Choose a longer period or fewer folds."
                ),
                {"windows": self.folds + 1, "bars": window, "needed": needed},
            )
        if self.method == "grid" and self.folds * grid_size(strategy, self.points) > MAX_EVALUATIONS:
            fail(
                "points",
                _(
                    "The grid has %(count)d parameter sets per fold, more than %(limit)d in all: use fewer values "
                    "per parameter or random search."
                ),
                {"count": grid_size(strategy, self.points), "limit": MAX_EVALUATIONS},
            )


def _values(spec: ParamSpec, points: int) -> list[Any]:
    if spec.choices:  # a Pine script's bool, text or option input: every choice
        return list(spec.choices) if spec.search else [spec.default]
    if not spec.search or spec.kind not in (int, float):  # an input with no declared range keeps its value
        return [spec.default]
    if spec.kind is int:
        raw = np.linspace(spec.minimum, spec.maximum, points)
        return sorted({round(v) for v in raw})
    step = spec.step or (spec.maximum - spec.minimum) / 100
    steps = max(1, round((spec.maximum - spec.minimum) / step))
    raw = np.linspace(0, steps, min(points, steps + 1))
    return sorted({round(spec.minimum + round(v) * step, 10) for v in raw})


def grid_size(strategy: Strategy, points: int) -> int:
    return math.prod(len(_values(spec, points)) for spec in strategy.params)


def max_warmup(strategy: Strategy) -> int:
    """The longest warm-up over the parameter ranges (the maxima of every period)."""
    return strategy.warmup(
        {spec.name: spec.kind(spec.maximum) if spec.kind in (int, float) else spec.default for spec in strategy.params}
    )


def candidates(strategy: Strategy, spec: SearchSpec) -> list[dict[str, Any]]:
    """Valid parameter sets to try (those failing the strategy's own checks are left out)."""
    if spec.method == "grid":
        names = [p.name for p in strategy.params]
        raw = [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(_values(p, spec.points) for p in strategy.params))
        ]
    else:
        rng = random.Random(spec.seed)  # noqa: S311 - a reproducible search, not a secret
        # Three draws per wanted set, since some break the strategy's own rules (fast < slow).
        raw = [strategy.defaults()]
        raw += [{p.name: _random_value(p, rng) for p in strategy.params} for _i in range(spec.samples * 3)]
    valid: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for params in raw:
        try:
            clean = strategy.validate(params)
        except StrategyError:
            continue
        key = tuple(sorted(clean.items()))
        if key not in seen:
            seen.add(key)
            valid.append(clean)
        if spec.method == "random" and len(valid) >= spec.samples:
            break
    return valid


def _random_value(spec: ParamSpec, rng: random.Random) -> float | int:
    if spec.choices or not spec.search or spec.kind not in (int, float):
        return rng.choice(spec.choices) if spec.choices and spec.search else spec.default
    if spec.kind is int:
        return rng.randint(int(spec.minimum), int(spec.maximum))
    step = spec.step or (spec.maximum - spec.minimum) / 100
    steps = round((spec.maximum - spec.minimum) / step)
    return round(spec.minimum + rng.randint(0, steps) * step, 10)


def score(metrics: dict[str, Any], metric: str) -> float:
    value = metrics.get(metric)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return -math.inf
    if metrics.get("trades", 0) == 0:
        return -math.inf  # a set that never trades is not a result
    return float(value) if METRICS[metric] else -float(value)


# evaluate(window, params, trade_from): backtest one set on the window and return its metrics; with
# ``trade_from``, the bars before it only warm the indicators up: no trade and no metric comes from them.
Evaluate = Callable[[pd.DataFrame, dict[str, Any], pd.Timestamp | None], dict[str, Any]]


def optimise(
    *,
    strategy: Strategy,
    candles: pd.DataFrame,
    spec: SearchSpec,
    evaluate: Evaluate,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Walk-forward search. ``evaluate(window, params)`` backtests one set and returns its metrics."""
    sets = candidates(strategy, spec)
    if not sets:
        raise StrategyError(_("No valid parameter set to try."))
    warm = max_warmup(strategy)
    window = len(candles) // (spec.folds + 1)
    total = spec.folds * (len(sets) + 1)
    done = 0
    folds: list[dict[str, Any]] = []
    for fold in range(spec.folds):
        train = candles.iloc[fold * window : (fold + 1) * window]
        test_start = (fold + 1) * window
        test = candles.iloc[max(0, test_start - warm) : test_start + window]
        ranked = []
        for params in sets:
            metrics = evaluate(train, params, None)
            ranked.append((score(metrics, spec.metric), params, metrics))
            done += 1
            if progress and done % 5 == 0:
                progress(done, total)
        ranked.sort(key=lambda item: item[0], reverse=True)
        _best_score, best_params, best_metrics = ranked[0]
        out = evaluate(test, best_params, candles.index[test_start])
        done += 1
        folds.append(
            {
                "train": [_iso(train.index[0]), _iso(train.index[-1])],
                "test": [_iso(candles.index[test_start]), _iso(test.index[-1])],
                "params": best_params,
                "in_sample": best_metrics,
                "out_of_sample": out,
                "top": [{"params": p, "score": _finite(s), "metrics": m} for s, p, m in ranked[:10]],
            }
        )
    if progress:
        progress(total, total)
    last = folds[-1]
    return {
        "metric": spec.metric,
        "evaluated": len(sets) * spec.folds,
        "folds": folds,
        "best": {"params": last["params"], "in_sample": last["in_sample"], "out_of_sample": last["out_of_sample"]},
    }


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.isoformat().replace("+00:00", "Z")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
