"""benchmarks/_common.py: the header every benchmark prints and its result lines."""

import argparse
import io

import pytest

from benchmarks._common import fmt, percentile, print_header, report


def test_percentile_interpolates_between_ranks():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_fmt_four_significant_digits_no_exponent():
    assert fmt(0.000123456) == "0.0001235"
    assert fmt(1.23456) == "1.235"
    assert fmt(12.3456) == "12.35"
    assert fmt(123.456) == "123.5"
    assert fmt(12345.6) == "12,346"
    assert fmt(148.0) == "148"


def test_report_lines():
    out = io.StringIO()
    few = report("load", [0.3, 0.1, 0.2], "s", file=out)
    many = report("request", list(range(1, 101)), "ms", file=out)
    one = report("orders", 127, "", file=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "result  load: median 0.2000 s, min 0.1000, slowest 0.3000, n=3"
    assert lines[1].startswith("result  request: median 50.50 ms, p95 95.05, p99 99.01, min 1, slowest 100, n=100")
    assert lines[2] == "result  orders: 127"
    assert few["median"] == pytest.approx(0.2) and "p95" not in few
    assert many["p99"] == pytest.approx(99.01)
    assert one == {"n": 1, "median": 127.0, "min": 127.0, "max": 127.0}


def test_header_names_machine_services_revision_and_settings():
    args = argparse.Namespace(runs=1, quick=True)
    out = io.StringIO()
    facts = print_header(
        args, uses_db="sqlite:////tmp/none.sqlite3", uses_redis="redis://127.0.0.1:1/0", name="x.py", file=out
    )
    text = out.getvalue()
    for key in ("benchmark:", "cpu:", "cores:", "ram:", "os:", "python:", "git:", "date:", "database:", "redis:"):
        assert f"\n{key}" in text, key
    assert "settings:      quick=True, runs=1" in text
    assert facts["database"].startswith("SQLite ")
    assert facts["redis"].startswith("unreachable at 127.0.0.1:1")  # reported, never raised
    assert "database" not in print_header(None, file=io.StringIO())


def test_tables_writes_the_runs_section_and_keeps_the_rest(tmp_path):
    """benchmarks/tables.py (the end of `make bench`): one row per benchmark with its wall time and figures, the
    header's facts on top, written between its markers; the hand-written text around them stays."""
    from benchmarks import tables

    logs = tmp_path / "bench"
    logs.mkdir()
    rule = "=" * 40
    header = f"{rule}\ngit:           abc123 (main)\ncpu:           EPYC\n{rule}\n"
    (logs / "market_data.log").write_text(
        header + "noise\nresult  load_candles: median 0.03 s, n=5\nresult  a|b: 1 s\n"
    )
    times = tmp_path / "times.txt"
    times.write_text("market_data          2.5 s\nwebhooks         skipped\n")
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\nwritten by hand\n")
    assert tables.main(["--quick", "--log-dir", str(logs), "--times", str(times), "--results", str(results)]) == 0
    first = results.read_text()
    assert "written by hand" in first and "git abc123 (main); cpu EPYC" in first
    assert "| market_data | 2.5 s | load_candles: median 0.03 s, n=5<br>a\\|b: 1 s |" in first
    assert "| webhooks | – | skipped |" in first
    times.write_text("market_data          3.0 s\n")
    tables.main(["--quick", "--log-dir", str(logs), "--times", str(times), "--results", str(results)])
    second = results.read_text()
    assert second.count("<!-- bench:quick:start -->") == 1 and "| market_data | 3.0 s |" in second
    assert "webhooks" not in second and "written by hand" in second
