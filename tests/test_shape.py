"""The code's shape, kept: no module is long without saying why, and trading's top level holds only the app's
wiring and the vocabulary every part shares (the rest lives in sub-packages named for what they hold). The
import rules themselves are import-linter contracts (pyproject.toml, ``make lint``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = [
    "accounts",
    "analytics",
    "market_data",
    "marketplace",
    "notifications",
    "onboarding",
    "strategies",
    "trading",
    "trading_site",
    "webhooks",
]
LONG = 400
REASON = "Why this file is long:"

# trading/'s own modules: Django's wiring (apps, admin, urls, tasks, context processors, models) and what every
# sub-package shares (the market clock, labels, the user's rows, the API's output shapes).
TRADING_TOP = {
    "__init__.py",
    "admin.py",
    "api_urls.py",
    "apps.py",
    "clock.py",
    "context_processors.py",
    "labels.py",
    "selectors.py",
    "serializers.py",
    "tasks.py",
    "urls.py",
}
TRADING_PACKAGES = {
    "bots",
    "dashboard",
    "exchange_accounts",
    "exchanges",
    "execution",
    "management",
    "migrations",
    "models",
    "paper",
    "reconciliation",
    "templatetags",
}


def _modules() -> list[Path]:
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                found.append(path)
    return found


def test_no_module_is_long_without_a_reason():
    unexplained = []
    for path in _modules():
        text = path.read_text()
        if text.count("\n") <= LONG:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if REASON not in doc:
            unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, f"over {LONG} lines with no '{REASON}' in the docstring: {unexplained}"


def test_trading_top_level_is_wiring_and_shared_vocabulary():
    files = {p.name for p in (ROOT / "trading").iterdir() if p.suffix == ".py"}
    packages = {p.name for p in (ROOT / "trading").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert files == TRADING_TOP, f"new top-level modules in trading/: {sorted(files - TRADING_TOP)}"
    assert packages == TRADING_PACKAGES, f"sub-packages changed: {sorted(packages ^ TRADING_PACKAGES)}"


def test_every_trading_module_says_what_it_holds():
    silent = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "trading").rglob("*.py")
        if "migrations" not in p.parts
        and p.name != "__init__.py"
        and p.stat().st_size
        and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert not silent, f"modules with no docstring: {silent}"
