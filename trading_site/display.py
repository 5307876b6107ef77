"""How numbers, amounts and times read on every page, in English and Korean.

One place decides: amounts carry thousands separators and their currency, changes carry a sign, percentages
a fixed number of decimals, and times are shown in the active time zone (the user's) with the zone named, in
the one date style of the active language (``trading_site/formats``). Templates use these through
``{% load trendy %}``; Python code that writes a sentence for the page (the activity feed, messages) calls
them directly. Nothing here formats by hand what Django's localisation can do.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import formats, timezone
from django.utils.translation import pgettext

MISSING = "–"
MINUS = "−"  # U+2212: a real minus sign, the width of a plus


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


def number(value: object, places: int | None = 2, *, signed: bool = False) -> str:
    """``1234.5`` → ``1,234.50``; ``places=None`` keeps the value's own decimals (trailing zeros dropped)."""
    d = _decimal(value)
    if d is None:
        return MISSING
    if places is None:
        d = d.normalize()
        places = max(0, -d.as_tuple().exponent)  # type: ignore[operator]
    else:
        d = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = formats.number_format(abs(d), places, use_l10n=True, force_grouping=True)
    zero = d == 0
    if d < 0 and not zero:
        return MINUS + text
    if signed and not zero:
        return "+" + text
    return text


def amount(value: object, currency: str = "USDT", *, places: int = 2, signed: bool = False) -> str:
    """Money: ``10,000.00 USDT``; with ``signed``, ``+12.50 USDT`` / ``−3.10 USDT``."""
    text = number(value, places, signed=signed)
    return text if text == MISSING or not currency else f"{text} {currency}"


def price_places(value: object) -> int:
    """Decimals that show a crypto price usefully: 2 from 100 up, 4 from 1, 6 below."""
    d = _decimal(value)
    if d is None:
        return 2
    d = abs(d)
    return 2 if d >= 100 else 4 if d >= 1 else 6


def price(value: object, currency: str = "") -> str:
    """A market price: ``96,708.00``, ``2.4512``, ``0.523400`` (with its quote currency when given)."""
    return amount(value, currency, places=price_places(value))


def quantity(value: object, asset: str = "") -> str:
    """An amount of the base asset as the exchange gave it: ``0.0042 BTC`` (at most 8 decimals)."""
    d = _decimal(value)
    if d is None:
        return MISSING
    d = d.quantize(Decimal("1e-8")).normalize()
    text = number(d, None)
    return f"{text} {asset}" if asset else text


def percent(value: object, places: int = 2, *, signed: bool = False) -> str:
    """``12.345`` → ``12.35%`` (the value is already in percent)."""
    text = number(value, places, signed=signed)
    return text if text == MISSING else f"{text}%"


def base_and_quote(symbol: str) -> tuple[str, str]:
    """``BTC/USDT:USDT`` → (``BTC``, ``USDT``)."""
    base, _, rest = (symbol or "").partition("/")
    return base, rest.split(":", 1)[0]


def zone_name(value: datetime) -> str:
    """The active time zone's name for that moment, as people write it: KST, UTC, CET (or +04)."""
    return timezone.localtime(value).strftime("%Z") or "UTC"


def when(value: datetime | date | None, *, seconds: bool = False, zone: bool = True) -> str:
    """A moment in the active time zone, in the language's one date style, with the zone named:
    ``4 Dec 2024, 06:00 KST`` / ``2024년 12월 4일 06:00 KST``."""
    if value is None:
        return MISSING
    if not isinstance(value, datetime):
        return formats.date_format(value, "DATE_FORMAT")
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    if seconds:
        # Translators: a date and time with seconds, in Django's date format syntax; keep the language's date style.
        text = formats.date_format(local, pgettext("date format", "j M Y, H:i:s"))
    else:
        text = formats.date_format(local, "DATETIME_FORMAT")
    return f"{text} {zone_name(value)}" if zone and timezone.is_aware(value) else text


def day(value: datetime | date | None) -> str:
    """A calendar day in the language's date style (in the active time zone for a moment)."""
    if value is None:
        return MISSING
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, "DATE_FORMAT")
