import json
import logging

from trading_site.logging import JsonFormatter


def test_json_lines():
    record = logging.makeLogRecord(
        {"name": "trendy.test", "levelname": "WARNING", "msg": "order %s rejected", "args": ("42",), "bot": 7}
    )
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["message"] == "order 42 rejected"
    assert payload["level"] == "WARNING"
    assert payload["logger"] == "trendy.test"
    assert payload["bot"] == 7
    assert payload["time"].endswith("+00:00")


def test_exceptions_are_included():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exc_info"]
