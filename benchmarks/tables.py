"""Write the tables of the last ``make bench`` run into benchmarks/RESULTS.md.

``make bench`` keeps each benchmark's output in ``var/bench/<name>.log`` and its wall time in
``var/bench-times.txt``; this reads them and replaces the section between ``<!-- bench:<size>:start -->`` and
``<!-- bench:<size>:end -->`` in RESULTS.md (``size`` is ``quick`` or ``full``; the section is added at the end the
first time) with: the command, the run's header facts (commit, date, machine, load, services, from the first
benchmark's header), and one row per benchmark: its wall time and every ``result`` line it printed. The
sections written by hand around it (what each figure means, the comparisons, the history) stay as they are.

    python benchmarks/tables.py [--quick] [--log-dir var/bench] [--times var/bench-times.txt] [--results FILE]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER_KEYS = ("git", "date", "cpu", "cores", "ram", "os", "load average", "python", "database", "redis")


def header_facts(text: str) -> dict[str, str]:
    """The ``key: value`` lines between the first two rules of ``=`` (``_common.print_header``)."""
    facts: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        if line.startswith("====="):
            if inside:
                break
            inside = True
            continue
        if inside and ":" in line:
            key, _, value = line.partition(":")
            facts.setdefault(key.strip(), value.strip())
    return facts


def results(text: str) -> list[str]:
    return [line.removeprefix("result").strip() for line in text.splitlines() if line.startswith("result  ")]


def wall_times(path: Path) -> dict[str, str]:
    times: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                times[parts[0]] = " ".join(parts[1:])
    return times


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(size: str, logs: list[Path], times: dict[str, str]) -> str:
    names = list(times) or [log.stem for log in logs]
    by_name = {log.stem: log for log in logs}
    facts: dict[str, str] = {}
    for name in names:
        if name in by_name:
            facts = header_facts(by_name[name].read_text(errors="replace"))
            if facts:
                break
    command = "make bench-quick" if size == "quick" else "make bench"
    lines = [
        f"<!-- bench:{size}:start -->",
        f"### Latest `{command}` (written by `benchmarks/tables.py`)",
        "",
        f"`{command}` — " + "; ".join(f"{key} {facts[key]}" for key in HEADER_KEYS if key in facts) + ".",
        "",
        "| benchmark | wall | figures (`result` lines) |",
        "|---|---:|---|",
    ]
    for name in names:
        wall = times.get(name, "")
        found = results(by_name[name].read_text(errors="replace")) if name in by_name else []
        figures = "<br>".join(cell(line) for line in found) or ("skipped" if "skipped" in wall else "no figures")
        lines.append(f"| {name} | {cell(wall.replace('skipped', '').strip()) or '–'} | {figures} |")
    lines.append(f"<!-- bench:{size}:end -->")
    return "\n".join(lines)


def write(results_md: Path, section: str, size: str) -> None:
    text = results_md.read_text() if results_md.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"<!-- bench:{size}:start -->.*?<!-- bench:{size}:end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip("\n") + f"\n\n## Latest {'quick ' if size == 'quick' else ''}run, every benchmark\n\n"
        text += section + "\n"
    results_md.write_text(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the bench-quick section")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--times", type=Path, default=ROOT / "var" / "bench-times.txt")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    logs = sorted(args.log_dir.glob("*.log"))
    if not logs:
        print(f"no benchmark logs in {args.log_dir}: run make bench first", file=sys.stderr)
        return 1
    size = "quick" if args.quick else "full"
    write(args.results, table(size, logs, wall_times(args.times)), size)
    print(f"{args.results.relative_to(ROOT) if args.results.is_relative_to(ROOT) else args.results}: "
          f"the {size} run's table of {len(logs)} benchmarks written")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
