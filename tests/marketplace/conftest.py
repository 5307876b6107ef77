from tests.strategies.conftest import stored_btc_1h  # noqa: F401 (the real BTC/USDT 1h candles, stored)
