"""The candle sample bundled with Trendy (market_data/sample/): what its README says it is."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from market_data.csv_import import read_candle_csv
from market_data.sources import SAMPLE_DIR, sample_files
from tests.market_data.conftest import HEADER, OHLCV_DIR

SHA256 = {
    "binance_BTCUSDT_1h.csv.gz": "252174d831a4d4a69f33af3e1420028c3be9652fd69f180ec0d11c9a2f346f27",
    "binance_ETHUSDT_1h.csv.gz": "2afb39c259513ca4718de50a6abcde9a0c353dfab2bd05d985200d53019277cc",
}


def test_the_sample_is_the_two_files_its_readme_names():
    assert [path.name for path in sample_files()] == sorted(SHA256)
    readme = (SAMPLE_DIR / "README.md").read_text()
    for name, digest in SHA256.items():
        assert hashlib.sha256((SAMPLE_DIR / name).read_bytes()).hexdigest() == digest
        assert digest in readme
    assert sum((SAMPLE_DIR / name).stat().st_size for name in SHA256) <= 1_500_000


@pytest.mark.parametrize("name", sorted(SHA256))
def test_every_hour_of_2024_and_valid(name):
    batch = read_candle_csv(SAMPLE_DIR / name, timeframe="1h")  # the importer's full validation
    assert len(batch) == 366 * 24 == 8784
    assert int(batch.time_ms[0]) == 1_704_067_200_000  # 2024-01-01T00:00Z
    assert int(batch.time_ms[-1]) == 1_735_686_000_000  # 2024-12-31T23:00Z


@pytest.mark.skipif(not OHLCV_DIR.is_dir(), reason="the shared candle folder is not beside the project")
@pytest.mark.parametrize("name", sorted(SHA256))
def test_rows_are_the_shared_files_rows_unchanged(name):
    shared = gzip.decompress((OHLCV_DIR / name).read_bytes()).decode().splitlines(keepends=True)
    cut = "".join([shared[0], *(line for line in shared[1:] if line.startswith("2024-"))])
    sample = gzip.decompress((SAMPLE_DIR / name).read_bytes()).decode()
    assert sample.startswith(HEADER + "\n")
    assert sample == cut
