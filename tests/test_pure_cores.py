"""The pure cores import no Django: they run (and are tested) on plain data, shared by backtest and live."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PURE = [
    "accounts.crypto",
    "accounts.net",
    "accounts.risk",
    "market_data.timeframes",
    "market_data.exceptions",
    "trading.exchanges.ccxt_exchange",
    "trading.exchanges.registry",
    "trading.exchanges.submit",
    "trading.exchanges.paper",
    "trading.bots.engine",
    "trading.execution.router",
    "trading.reconciliation.diff",
    "strategies.backtest",
    "strategies.builtin",
    "strategies.pine",
    "strategies.pine.source",
    "strategies.pine.series",
    "strategies.pine.bars",
    "strategies.pine.run",
    "analytics.portfolio",
    "analytics.montecarlo",
    "analytics.kelly",
    "analytics.features",
    "analytics.regime",
    "analytics.forecast",
    "analytics.signal",
    "analytics.sentiment",
    "analytics.sources",
    "analytics.commentary",
]


def test_pure_modules_import_without_django():
    code = (
        "import importlib, sys\n"
        f"for name in {PURE!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
