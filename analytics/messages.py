"""The pure cores' refusals, in the user's language (the cores raise English text and a stable code)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from analytics.errors import AnalysisError
from analytics.kelly import KellyError
from analytics.montecarlo import MonteCarloError
from analytics.portfolio import PortfolioError

MESSAGES = {
    "no_excess_return": (
        _(
            "Over this window no mix inside the bounds is expected to return more than the risk-free rate, so none "
            "has a positive Sharpe ratio: hold cash, lower the risk-free rate, or choose the least-risk method."
        ),
        "optimization_method",
    ),
    "infeasible": (_("No mix satisfies these weight bounds."), "weight_bounds"),
    "bad_bounds": (
        _(
            "Each weight bound must satisfy 0 <= minimum <= maximum <= 100 %, the minimums may add up to at most "
            "100 % and the maximums to at least 100 %."
        ),
        "weight_bounds",
    ),
    "bad_tolerance": (_("The risk tolerance is a maximum drawdown above 0 and up to 100 %."), "risk_tolerance"),
    "bad_covariance": (_("The returns hold missing or infinite values."), "symbols"),
    "ruin": (_("A single period of this history lost the whole portfolio: it cannot be resampled."), "symbols"),
    "no_variance": (_("These returns do not vary: they give no Kelly fraction."), "non_field_errors"),
}


def translated(exc: PortfolioError | MonteCarloError | KellyError) -> AnalysisError:
    """The core's refusal as an AnalysisError with the translated message (its own text when none is known)."""
    message, field = MESSAGES.get(exc.code, (str(exc), "non_field_errors"))
    return AnalysisError(str(message), code=exc.code, field=field)
