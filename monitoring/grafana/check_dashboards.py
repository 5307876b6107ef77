#!/usr/bin/env python3
"""Checks the provisioned Grafana dashboards and prints their PromQL for a live Prometheus to evaluate.

    python3 monitoring/grafana/check_dashboards.py [DASHBOARD.json ...]

Without arguments it reads every *.json in dashboards/ beside this file. For each dashboard it checks that
the panel ids are unique, that no two panels' gridPos rectangles overlap (and that each fits the 24-column
grid), that every panel with queries uses the Prometheus datasource (uid "prometheus") and that every
target has a non-empty expr with the same datasource. Then it prints one JSON object per line on stdout:

    {"dashboard": "...", "panel": "...", "refId": "A", "instant": false, "expr": "..."}

with the Grafana variables replaced by what CI evaluates them as: $__rate_interval -> 5m, $__range -> 1h,
$exchange -> .*; any other "$" variable left in an expression is an error. Problems go to stderr and the
exit status is 1. Plain Python 3 standard library.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DATASOURCE_UID = "prometheus"
GRID_COLUMNS = 24
SUBSTITUTIONS = {"__rate_interval": "5m", "__range": "1h", "exchange": ".*"}
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


def substitute(expr: str) -> tuple[str, list[str]]:
    """The expression with the known variables replaced, and the names of any others it uses."""
    unknown: list[str] = []

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name in SUBSTITUTIONS:
            return SUBSTITUTIONS[name]
        unknown.append(match.group(0))
        return match.group(0)

    return VARIABLE.sub(replace, expr), unknown


def all_panels(panels: list[dict]) -> list[dict]:
    """Top-level panels plus those nested in collapsed rows."""
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(panel.get("panels") or [])
    return out


def check_dashboard(path: Path) -> tuple[list[str], list[dict]]:
    errors: list[str] = []
    lines: list[dict] = []
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{path}: cannot load: {exc}"], []
    name = board.get("title") or path.stem
    where = f"{path.name} ({name})"
    if not board.get("uid"):
        errors.append(f"{where}: no uid")
    panels = all_panels(board.get("panels") or [])
    if not panels:
        errors.append(f"{where}: no panels")

    seen_ids: dict[object, str] = {}
    boxes: list[tuple[str, int, int, int, int]] = []
    for panel in panels:
        title = panel.get("title") or "(untitled)"
        pid = panel.get("id")
        if not isinstance(pid, int):
            errors.append(f"{where}: panel {title!r} has no integer id")
        elif pid in seen_ids:
            errors.append(f"{where}: panel id {pid} used by {seen_ids[pid]!r} and {title!r}")
        else:
            seen_ids[pid] = title

        grid = panel.get("gridPos") or {}
        try:
            x, y, w, h = (int(grid[k]) for k in ("x", "y", "w", "h"))
        except (KeyError, TypeError, ValueError):
            errors.append(f"{where}: panel {title!r} has no complete gridPos")
        else:
            if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > GRID_COLUMNS:
                errors.append(f"{where}: panel {title!r} gridPos {grid} is outside the {GRID_COLUMNS}-column grid")
            for other, ox, oy, ow, oh in boxes:
                if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                    errors.append(f"{where}: panels {other!r} and {title!r} overlap")
            boxes.append((title, x, y, w, h))

        if panel.get("type") == "row":
            continue
        targets = panel.get("targets") or []
        if not targets:
            errors.append(f"{where}: panel {title!r} has no targets")
        if (panel.get("datasource") or {}).get("uid") != DATASOURCE_UID:
            errors.append(f"{where}: panel {title!r} datasource is not uid {DATASOURCE_UID!r}")
        for target in targets:
            ref = target.get("refId", "?")
            if (target.get("datasource") or {}).get("uid") != DATASOURCE_UID:
                errors.append(f"{where}: panel {title!r} target {ref} datasource is not uid {DATASOURCE_UID!r}")
            expr = (target.get("expr") or "").strip()
            if not expr:
                errors.append(f"{where}: panel {title!r} target {ref} has no expr")
                continue
            resolved, leftover = substitute(expr)
            if leftover:
                errors.append(f"{where}: panel {title!r} target {ref} uses unknown variables {leftover}")
            lines.append(
                {
                    "dashboard": name,
                    "panel": title,
                    "refId": ref,
                    "instant": bool(target.get("instant")),
                    "expr": resolved,
                }
            )
    return errors, lines


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((Path(__file__).resolve().parent / "dashboards").glob("*.json"))
    if not paths:
        print("no dashboards found", file=sys.stderr)
        return 1
    errors: list[str] = []
    uids: dict[str, Path] = {}
    for path in paths:
        board_errors, lines = check_dashboard(path)
        errors.extend(board_errors)
        for line in lines:
            print(json.dumps(line, ensure_ascii=False))
        try:
            uid = json.loads(path.read_text(encoding="utf-8")).get("uid")
        except (OSError, ValueError):
            continue
        if uid in uids:
            errors.append(f"{path.name}: uid {uid!r} also used by {uids[uid].name}")
        uids[uid] = path
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(paths)} dashboards checked, {len(errors)} problems", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
