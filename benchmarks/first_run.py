"""First run, as a new user has it: how long from ``make run`` to the first page.

The script clones the repository into a temporary folder and runs ``make install`` once (not timed).
For each layout — ``../shared`` beside the clone (the real candle files), then none (the bundled
sample) — it then, ``--runs`` times, puts the clone back to the state of a fresh clone (``git clean
-xdf`` keeping ``.venv``: no database, no ``var/``, no ``__pycache__``, so no compiled numba kernels),
starts ``make run PORT=<port>`` and times until ``GET /`` answers 200. It prints when each phase of the output
began (migrate, seed_demo, market_clock, seed_trading_demo, worker and web server) and the medians.

    .venv/bin/python benchmarks/first_run.py                      # the committed HEAD of this repository
    .venv/bin/python benchmarks/first_run.py --rev beb08e3 --runs 1 --timeout 300   # an older commit
    .venv/bin/python benchmarks/first_run.py --nice -10   # as root, ahead of other load on a shared machine

DATABASE_URL, REDIS_URL and TRENDY_* are removed from the environment: ``make run`` on its embedded
defaults (SQLite, the file-system broker), as in a fresh clone. The network is whatever the machine has
(this sandbox has none: the exchange probe is refused at once). Needs git, make and Python 3.11+.

``--reuse-venv`` links this checkout's ``.venv`` into the clone instead of running ``make install`` there
(the clone's requirements files are dated before its install stamp, so ``make run`` installs nothing).
``--quick`` (``make bench-quick``): one run, without ``../shared`` (the bundled sample), ``--reuse-venv``,
time-out 150 s; about 40 s. It still compiles the numba kernels, as a fresh clone does.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from _common import print_header
from _common import report as result

ROOT = Path(__file__).resolve().parents[1]
PHASES = (
    ("migrate", "manage.py migrate"),
    ("setup_periodic_tasks", "manage.py setup_periodic_tasks"),
    ("seed_demo", "manage.py seed_demo"),
    ("market_clock auto", "manage.py market_clock"),
    ("seed_trading_demo", "manage.py seed_trading_demo"),
    ("worker + web server", "Starting a Celery worker"),
    ("runserver listening", "Starting development server"),
)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRENDY_", "DJANGO_", "MAKE", "MFLAGS"))}
    for name in ("DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV", "NUMBA_CACHE_DIR", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    return env


def status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (127.0.0.1)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def one_run(folder: Path, port: int, timeout: float, log: Path) -> tuple[float | None, dict[str, float]]:
    """Seconds from ``make run`` to the first 200 on ``/`` (None on a time-out or an early exit) and
    when each phase's first line appeared."""
    subprocess.run(["git", "clean", "-xdfq", "-e", ".venv"], cwd=folder, check=True)
    started = time.monotonic()
    seen: dict[str, float] = {}
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )

    def read() -> None:
        with log.open("w") as out:
            for line in process.stdout:
                now = time.monotonic() - started
                out.write(f"{now:7.2f} {line}")
                for name, marker in PHASES:
                    if name not in seen and marker in line:
                        seen[name] = now

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}/"
    elapsed = None
    try:
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                break
            if status(url) == 200:
                elapsed = time.monotonic() - started
                break
            time.sleep(0.2)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(timeout=5)
    return elapsed, seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(ROOT), help="the repository to clone (default: this one)")
    parser.add_argument("--rev", help="the commit to check out (default: the clone's HEAD)")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared/ folder to link beside")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8105)
    parser.add_argument("--timeout", type=float, default=240, help="give up on a run after this many seconds")
    parser.add_argument("--layout", choices=["with", "without", "both"], default="both")
    parser.add_argument(
        "--nice", type=int, default=0, help="run at this niceness (negative, as root: ahead of other load)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the clone (run logs: <tmp>/<layout>.run<N>.log)")
    parser.add_argument("--reuse-venv", action="store_true", help="link this checkout's .venv instead of installing")
    parser.add_argument("--quick", action="store_true", help="1 run, without ../shared, --reuse-venv, time-out 150 s")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.layout, args.reuse_venv, args.timeout = 1, "without", True, min(args.timeout, 150)
    print_header(args)
    if args.nice:
        os.nice(args.nice)

    layouts = ["with", "without"] if args.layout == "both" else [args.layout]
    base = Path(tempfile.mkdtemp(prefix="trendy-first-run-"))
    folder = base / "trendy"
    subprocess.run(["git", "clone", "-q", args.repo, str(folder)], check=True)
    if args.rev:
        subprocess.run(["git", "checkout", "-q", args.rev], cwd=folder, check=True)
    commit = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=folder, capture_output=True, text=True)
    print(f"clone {folder}: {commit.stdout.strip()[:100]}")
    print(f"{args.runs} run(s) per layout; {os.cpu_count()} cores; niceness {os.nice(0)}")
    if args.reuse_venv and (ROOT / ".venv" / ".installed").exists():
        (folder / ".venv").symlink_to(ROOT / ".venv")
        stamp = (ROOT / ".venv" / ".installed").stat().st_mtime
        for requirements in folder.glob("requirements*.txt"):  # older than the stamp: make installs nothing
            os.utime(requirements, (stamp - 60, stamp - 60))
        print(f"make install: skipped, {ROOT / '.venv'} linked into the clone")
    else:
        installed = time.monotonic()
        subprocess.run(["make", "install"], cwd=folder, env=clean_env(), check=True, capture_output=True)
        print(f"make install (once, not timed): {time.monotonic() - installed:.0f} s")
    results: dict[str, list[float | None]] = {}
    for layout in layouts:
        shared = base / "shared"
        if layout == "with":
            shared.symlink_to(Path(args.shared).resolve())
        elif shared.is_symlink():
            shared.unlink()
        print(f"\n== {layout} ../shared")
        times: list[float | None] = []
        for run in range(1, args.runs + 1):
            log = base / f"{layout}.run{run}.log"
            load = os.getloadavg()[0]
            elapsed, seen = one_run(folder, args.port, args.timeout, log)
            times.append(elapsed)
            phases = ", ".join(f"{name} {at:.1f}" for name, at in sorted(seen.items(), key=lambda item: item[1]))
            shown = f"{elapsed:.1f} s" if elapsed is not None else "no page (see the log)"
            print(f"run {run} (load average {load:.1f}): first page in {shown}; phases began at (s): {phases}")
            if elapsed is None:
                print("  last lines:\n    " + "\n    ".join(log.read_text().splitlines()[-6:]))
        results[layout] = times
    print("\n| layout | runs (s) | median (s) |\n| --- | --- | ---: |")
    for layout, times in results.items():
        done = [t for t in times if t is not None]
        shown = ", ".join(f"{t:.1f}" if t is not None else "failed" for t in times)
        median = f"{statistics.median(done):.1f}" if len(done) == len(times) else "—"
        print(f"| {layout} ../shared | {shown} | {median} |")
    print()
    for layout, times in results.items():
        done = [t for t in times if t is not None]
        if done:
            result(f"first page, {layout} ../shared", done, "s")
        if len(done) < len(times):
            result(f"runs without a page, {layout} ../shared", len(times) - len(done), "")
    if not args.keep:
        subprocess.run(["rm", "-rf", str(base)], check=False)
    else:
        print(f"kept: {base}")
    return 0 if all(t is not None for times in results.values() for t in times) else 1


if __name__ == "__main__":
    sys.exit(main())
