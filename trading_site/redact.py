"""Masking secrets in text (pure: no Django import; the logging filter and the error reports use it).

Two kinds of secret are masked wherever they appear in a text:

- **shapes** that are secrets whatever their value: our API tokens (``tdy_<prefix>_…``, the public prefix is
  kept), webhook secrets (``whs_…``), webhook URL tokens (``/tv/<token>/``), 64-character exchange keys,
  the values of ``Authorization``, ``X-MBX-APIKEY`` and ``OK-ACCESS-*`` headers, and the values of
  ``apiKey`` / ``secret`` / ``password`` / ``passphrase`` / ``signature`` / ``token`` key-value pairs in
  dicts, JSON and query strings;
- **values**: every secret this process sealed or opened recently (``accounts.secrets`` calls
  :func:`remember`), in the forms it takes in text (as is, URL-quoted, JSON- and HTML-escaped, repr).
  The set is bounded (the most recent :data:`MAX_REMEMBERED`) and lives in memory only.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
MAX_REMEMBERED = 1024  # secret values kept per process (least recently used dropped first)
MIN_LENGTH = 6  # shorter values are not remembered: masking them would mangle ordinary words

# Names whose value is a secret, in key-value pairs (``secret=…``, ``"apiKey": "…"``, ``password: …``).
SECRET_NAME = "".join(  # a pattern of names, not a secret
    (
        r"[\w-]*?(?:api[_-]?key|apikey|api[_-]?secret|secret[_-]?key|secret|password|passwd|passphrase|signature",
        r"|token|private[_-]?key)",
    )
)
_HEADERS = r"authorization|proxy-authorization|x-mbx-apikey|ok-access-key|ok-access-sign|ok-access-passphrase|x-api-key"
_VALUE = r"[^\s\"',&;}\]\)]+"

SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Header values, in raw requests and in repr'd dicts: keep the scheme word (Bearer) for the reader.
    (
        re.compile(rf"(?i)(\b(?:{_HEADERS})\b['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|token|basic)\s+)?){_VALUE}"),
        rf"\1{MASK}",
    ),
    # Key-value pairs: JSON, repr'd dicts, query strings, ``name: value`` and ``name=value``.
    (re.compile(rf"(?i)(\b{SECRET_NAME}\b['\"]?\s*(?:=|:|=>)\s*['\"]?){_VALUE}"), rf"\1{MASK}"),
    # Our API tokens: the prefix is public (it names the token on the tokens page), the rest is the secret.
    (re.compile(r"\b(tdy_[0-9a-f]{8}_)[A-Za-z0-9_\-]{6,}"), rf"\1{MASK}"),
    # Webhook secrets and the unguessable token in a webhook's URL.
    (re.compile(r"\bwhs_[A-Za-z0-9_\-]{6,}"), f"whs_{MASK}"),
    (re.compile(r"(/tv/)[A-Za-z0-9_\-]{16,}"), rf"\1{MASK}"),
    # Binance- and OKX-like keys and secrets: 64 letters and digits in a row.
    (re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{64}(?![A-Za-z0-9])"), MASK),
)

_lock = threading.Lock()
_remembered: OrderedDict[str, None] = OrderedDict()
_forms: tuple[str, ...] = ()  # every text form of every remembered value, longest first


def _text_forms(value: str) -> set[str]:
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        repr(value)[1:-1],
        ascii(value)[1:-1],
    }
    return {form for form in forms if len(form) >= MIN_LENGTH}


def remember(*values: str | None) -> None:
    """Mask these values from now on, in this process (called when a secret is sealed or opened)."""
    global _forms
    changed = False
    with _lock:
        for value in values:
            if not isinstance(value, str) or len(value.strip()) < MIN_LENGTH:
                continue
            if value in _remembered:
                _remembered.move_to_end(value)
                continue
            _remembered[value] = None
            changed = True
            while len(_remembered) > MAX_REMEMBERED:
                _remembered.popitem(last=False)
        if changed:
            forms: set[str] = set()
            for value in _remembered:
                forms |= _text_forms(value)
            _forms = tuple(sorted(forms, key=len, reverse=True))


def forget_all() -> None:
    """Tests: start from an empty set."""
    global _forms
    with _lock:
        _remembered.clear()
        _forms = ()


def remembered() -> Iterable[str]:
    return tuple(_remembered)


def redact_known(text: str) -> str:
    """``text`` with every remembered secret value replaced by ``[redacted]`` (the shapes are left alone)."""
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def redact(text: str) -> str:
    """``text`` with every remembered secret value and every secret shape replaced by ``[redacted]``."""
    if not text:
        return text
    text = redact_known(text)
    for pattern, replacement in SHAPES:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """A string redacted; any other value unchanged unless its repr holds a secret (then the redacted repr)."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break logging
        return value
    masked = redact(text)
    return value if masked == text else masked
