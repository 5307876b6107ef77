"""How numbers, amounts and times read, in English and Korean (trading_site.display and {% load trendy %})."""

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from trading_site import display

MOMENT = datetime(2024, 12, 4, 21, 0, 5, tzinfo=UTC)  # 06:00:05 on 5 Dec in Seoul


@pytest.fixture
def seoul():
    timezone.activate(ZoneInfo("Asia/Seoul"))
    yield
    timezone.deactivate()


@pytest.mark.parametrize("language", ["en", "ko"])
def test_amounts_have_separators_currency_and_signs(language):
    with translation.override(language):
        assert display.amount(Decimal("10000")) == "10,000.00 USDT"
        assert display.amount(Decimal("1234567.891"), "USDT") == "1,234,567.89 USDT"
        assert display.amount(Decimal("-12.5"), signed=True) == "−12.50 USDT"
        assert display.amount(Decimal("3.105"), signed=True) == "+3.11 USDT"  # half up, not to even
        assert display.amount(Decimal("0"), signed=True) == "0.00 USDT"
        assert display.amount(Decimal("-0.001"), signed=True) == "0.00 USDT"  # rounds to zero: no sign
        assert display.amount(None) == "–"
        assert display.amount("not a number") == "–"
        assert display.amount(float("nan")) == "–"


def test_prices_quantities_and_percentages():
    assert display.price(Decimal("96708")) == "96,708.00"
    assert display.price(Decimal("96708"), "USDT") == "96,708.00 USDT"
    assert display.price(Decimal("2.45123")) == "2.4512"
    assert display.price(0.5234) == "0.523400"
    assert display.quantity(Decimal("0.004200000000000000"), "BTC") == "0.0042 BTC"
    assert display.quantity(Decimal("12345.5"), "XRP") == "12,345.5 XRP"
    assert display.quantity(Decimal("0.000000001"), "BTC") == "0 BTC"
    assert display.percent(12.345) == "12.35%"
    assert display.percent(Decimal("-1.25"), 1, signed=True) == "−1.3%"
    assert display.percent(5, 0) == "5%"
    assert display.percent(Decimal("2.5"), signed=True) == "+2.50%"
    assert display.base_and_quote("BTC/USDT:USDT") == ("BTC", "USDT")


def test_times_in_the_users_zone_with_its_name_one_style_per_language(seoul):
    with translation.override("en"):
        assert display.when(MOMENT) == "5 Dec 2024, 06:00 KST"
        assert display.when(MOMENT, seconds=True) == "5 Dec 2024, 06:00:05 KST"
        assert display.day(MOMENT) == "5 Dec 2024"
        assert display.day(date(2024, 12, 9)) == "9 Dec 2024"
    with translation.override("ko"):
        assert display.when(MOMENT) == "2024년 12월 5일 06:00 KST"
        assert display.when(MOMENT, seconds=True) == "2024년 12월 5일 06:00:05 KST"
        assert display.day(date(2024, 12, 9)) == "2024년 12월 9일"
    timezone.activate(ZoneInfo("UTC"))
    with translation.override("en"):
        assert display.when(MOMENT) == "4 Dec 2024, 21:00 UTC"
    assert display.when(None) == "–"


def test_template_filters(seoul):
    template = Template(
        "{% load trendy %}{{ b|money }}|{{ p|money_signed:'BTC/USDT' }}|{{ x|price:'ETH/USDT' }}|"
        "{{ q|qty:'BTC/USDT' }}|{{ r|pct:1 }}|{{ r|pct_signed }}|{{ n|num:0 }}|{{ t|when }}|{% moment t %}"
    )
    context = Context(
        {"b": Decimal(10000), "p": Decimal("-3.1"), "x": Decimal("3456.789"), "q": Decimal("0.0042"), "r": 12.34,
         "n": Decimal("1234567.5"), "t": MOMENT}
    )  # fmt: skip
    with translation.override("ko"):
        rendered = template.render(context)
    assert rendered == (
        "10,000.00 USDT|−3.10 USDT|3,456.79 USDT|0.0042 BTC|12.3%|+12.34%|1,234,568|2024년 12월 5일 06:00 KST|"
        '<time datetime="2024-12-04T21:00:05+00:00">2024년 12월 5일 06:00 KST</time>'
    )


def test_django_dates_in_templates_follow_the_one_style(seoul):
    """Anything still rendered with Django's named formats gets the same style (no 12/04/2026 1:41 p.m.)."""
    template = Template('{{ t|date:"SHORT_DATETIME_FORMAT" }}|{{ t|date:"DATE_FORMAT" }}|{{ t }}')
    with translation.override("en"):
        assert template.render(Context({"t": MOMENT})) == "5 Dec 2024, 06:00|5 Dec 2024|5 Dec 2024, 06:00"
    with translation.override("ko"):
        assert template.render(Context({"t": MOMENT})) == "2024년 12월 5일 06:00|2024년 12월 5일|2024년 12월 5일 06:00"
