"""Candle rows to and from PostgreSQL in PostgreSQL's binary encoding, built and parsed with numpy.

No Python object per row: a million candles go in (binary ``COPY … FROM STDIN``) or come out (pages
of rows packed into one bytea by the server) in a fraction of a second of client time, where a tuple per
row takes seconds. Only fixed-width columns are read (bigint, timestamptz, double precision); writing
adds text columns whose value is the same on every row (the series' exchange, symbol, timeframe).
Binary ``timestamptz`` is microseconds since 2000-01-01T00:00Z; here it is converted from and to
epoch milliseconds. Pure: no Django import; the callers hand in a psycopg cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # no flags, no extension
TRAILER = b"\xff\xff"
PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00Z
CHUNK_ROWS = 65_536

# Column kinds: "int8" (bigint), "time" (timestamptz as epoch ms), "float8" (double precision).
_WIRE = {"int8": ">i8", "time": ">i8", "float8": ">f8"}


def _row_dtype(kinds: Sequence[str], texts: Sequence[bytes] = ()) -> np.dtype:
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for k, text in enumerate(texts):
        fields.append((f"t{k}_len", ">i4"))
        if text:
            fields.append((f"t{k}", f"S{len(text)}"))
    for k, kind in enumerate(kinds):
        fields += [(f"c{k}_len", ">i4"), (f"c{k}", _WIRE[kind])]
    return np.dtype(fields)


_SEND = {"int8": "int8send({})", "time": "timestamptz_send({})", "float8": "float8send({})"}
PAGE_ROWS = 1_000_000  # 8 bytes a value: a page of 7 columns is a 56 MB bytea, far below PostgreSQL's 1 GB


def read(
    cursor: Any, query: str, params: Sequence[object], columns: Sequence[str], kinds: Sequence[str]
) -> list[np.ndarray]:
    """The rows of ``query`` ascending by ``open_time`` (unique), one native-endian array per column.

    The server packs each page of rows into one bytea (fixed 8-byte big-endian values, the binary COPY
    encoding of each type), so the client receives a few large values instead of a message per row.
    Every column must be NOT NULL; ``columns`` must include ``open_time``.
    """
    packed = " || ".join(_SEND[kind].format(f"page.{name}") for name, kind in zip(columns, kinds, strict=True))
    dtype = np.dtype([(f"c{k}", _WIRE[kind]) for k, kind in enumerate(kinds)])
    pages: list[np.ndarray] = []
    after = None
    while True:
        where, page_params = ("", list(params)) if after is None else ("WHERE q.open_time > %s", [*params, after])
        sql = (
            f"SELECT count(*), max(page.open_time), "  # noqa: S608  # nosec B608  # the callers' fixed query and columns, a constant page size; values are parameters
            f"coalesce(string_agg({packed}, ''::bytea ORDER BY page.open_time), ''::bytea) "
            f"FROM (SELECT * FROM ({query}) AS q {where} ORDER BY q.open_time LIMIT {PAGE_ROWS}) AS page"
        )
        # A plain (server-side binding) cursor on the same connection and transaction: the bytea comes back
        # as raw bytes, where a client-side binding cursor (Django's) can only get it as hex text.
        with psycopg.Cursor(cursor.connection) as binary:
            binary.execute(sql, page_params, binary=True)
            count, after, payload = binary.fetchone()
        if len(payload) != count * dtype.itemsize:
            raise ValueError("unexpected row size from the server")
        pages.append(np.frombuffer(payload, dtype=dtype))
        if count < PAGE_ROWS:
            break
    rows = pages[0] if len(pages) == 1 else np.concatenate(pages)
    result = []
    for k, kind in enumerate(kinds):
        values = rows[f"c{k}"]
        if kind == "time":
            result.append(values.astype(np.int64) // 1000 + PG_EPOCH_MS)
        else:
            result.append(values.astype(np.int64 if kind == "int8" else np.float64))
    return result


def write(
    cursor: Any,
    table: str,
    columns: Sequence[str],
    texts: Sequence[str],
    kinds: Sequence[str],
    arrays: Sequence[np.ndarray],
) -> None:
    """``COPY table (columns) FROM STDIN (FORMAT BINARY)``: first the constant ``texts``, then the arrays.

    ``columns`` names the text columns first, then one column per array of ``kinds``. Written in chunks,
    so the buffer stays small whatever the number of rows.
    """
    encoded = [text.encode() for text in texts]
    dtype = _row_dtype(kinds, encoded)
    n = len(arrays[0]) if arrays else 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(HEADER)
        for start in range(0, n, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, n)
            rows = np.empty(stop - start, dtype=dtype)
            rows["count"] = len(encoded) + len(kinds)
            for k, text in enumerate(encoded):
                rows[f"t{k}_len"] = len(text)
                if text:
                    rows[f"t{k}"] = text
            for k, (kind, values) in enumerate(zip(kinds, arrays, strict=True)):
                rows[f"c{k}_len"] = 8
                chunk = values[start:stop]
                rows[f"c{k}"] = (chunk.astype(np.int64) - PG_EPOCH_MS) * 1000 if kind == "time" else chunk
            copy.write(rows.tobytes())
        copy.write(TRAILER)
