"""The Pine compiler's refusal (pure: no Django)."""

from __future__ import annotations

from typing import Any


class PineCompileError(ValueError):
    """The script runs, but Trendy's backtest cannot trade it as written (the message says why; ``template`` and
    ``params`` are the sentence for translation)."""

    def __init__(self, template: str, params: dict[str, Any] | None = None) -> None:
        self.template = template
        self.params = dict(params or {})
        super().__init__(template % self.params)
