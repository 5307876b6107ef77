"""The admin as staff use it: named sections, and on every registered model a changelist that searches,
filters, never shows a secret and costs the same number of queries for 3 rows as for 30."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal as D
from html import unescape

import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth.models import Group
from django.db import connection
from django.test.client import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from accounts import services as account_services
from accounts.events import Event
from accounts.models import ExchangeAccount
from analytics import commentaries
from analytics.models import ForecastModel, RegimeModel, SentimentSnapshot, SignalModel, SignalRecord
from market_data.models import Candle
from marketplace import ledger
from marketplace.models import Listing, ListingVersion, Payment, Payout, ProviderEvent, Review, Subscription
from notifications import services as notification_services
from notifications.models import Delivery, DeliveryAttempt
from notifications.services import notification_create
from onboarding.models import OnboardingState
from strategies.models import BacktestRun, PineScript, PineScriptVersion
from tests.factories import UserFactory
from trading.models import Bot, LoopTick, MarketClock, Order, OrderEvent, PaperWallet, Position, Trade
from webhooks import services as webhook_services
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

# Models where a list filter or a search would be pointless, and why. Every other registered model must
# have both: ``test_every_model_admin_filters_and_searches`` fails when one lacks either.
ALLOWLIST = {
    # trading.clock keeps exactly one row (id 1): there is nothing to filter or search.
    "trading.marketclock": {"list_filter", "search_fields"},
    # A handful of named groups, searchable by name; a filter by permission would list every permission.
    "auth.group": {"list_filter"},
}


PLACES = itertools.count()


@dataclass
class Secrets:
    """Every secret the rows were made with, in the clear and as stored: no admin page may show one."""

    values: list[str] = field(default_factory=list)

    def add(self, *values: str) -> None:
        self.values.extend(v for v in values if v)

    def found_in(self, html: str) -> list[str]:
        return [v for v in self.values if v in html]


def populate(count: int, prefix: str, secrets: Secrets) -> None:
    """``count`` traders, each with a row in every registered model (and a schedule of each kind)."""
    now = timezone.now()
    MarketClock.objects.get_or_create(id=1, defaults={"mode": MarketClock.Mode.LIVE})
    for i in range(count):
        tag = f"{prefix}{i}"
        user = UserFactory(email=f"{tag}@example.com", first_name=f"First{tag}", last_name=f"Last{tag}")
        group = Group.objects.create(name=f"{tag} desk")
        user.groups.add(group)
        issued = account_services.api_token_issue(user=user, name=f"token {tag}")
        secrets.add(issued.key, issued.token.key_hash)
        totp_secret = base64.b32encode(os.urandom(20)).decode()
        authenticator = TOTP.activate(user, totp_secret).instance
        secrets.add(totp_secret, authenticator.data["secret"])

        paper = ExchangeAccount.objects.create(
            user=user, exchange="paper", label=f"Paper {tag}", paper_balance=D(10_000)
        )
        PaperWallet.objects.create(account=paper, balance=D(10_000))
        live = ExchangeAccount(user=user, exchange="binance", label=f"Binance {tag}", market_type="swap")
        api_key, api_secret = f"AK{os.urandom(12).hex()}", f"SK{os.urandom(16).hex()}"
        live.set_credentials(api_key=api_key, secret=api_secret)
        live.save()
        secrets.add(api_key, api_secret, live.api_key, live.secret)

        bot = Bot.objects.create(
            user=user, exchange_account=paper, name=f"bot {tag}", strategy="supertrend", symbol="BTC/USDT",
            timeframe="1h", status=Bot.Status.RUNNING, status_reason=f"started {tag}",
        )  # fmt: skip
        position = Position.objects.create(
            user=user, exchange_account=paper, bot=bot, symbol="BTC/USDT", side="long", amount=D("0.1"),
            entry_price=D(50_000), opened_at=now - timedelta(hours=i), status="closed", exit_reason="stop_loss",
            closed_at=now, realized_pnl=D(-12),
        )  # fmt: skip
        order = Order.objects.create(
            user=user, exchange_account=paper, bot=bot, position=position, symbol="BTC/USDT", side="buy",
            type="market", purpose="entry", amount=D("0.1"), client_order_id=f"cid-{tag}",
            exchange_order_id=f"xid-{tag}", status="filled",
        )  # fmt: skip
        OrderEvent.objects.create(order=order, kind="filled")
        Trade.objects.create(
            user=user, exchange_account=paper, order=order, position=position, bot=bot, symbol="BTC/USDT",
            side="buy", amount=D("0.1"), price=D(50_000), time=now - timedelta(hours=i),
        )  # fmt: skip
        notification_create(
            Event(user_id=user.pk, kind=("order_filled", "stop_loss_hit")[i % 2], data={"symbol": f"{tag}/USDT"})
        )
        chat = f"{next(PLACES) + 700_000_000}"
        channel = notification_services._channel_save(
            user=user, kind="telegram", address=chat, hint=f"chat …{chat[-4:]}", label=f"Telegram {tag}", language="ko"
        )
        secrets.add(chat, channel.address)
        sent = Delivery.objects.create(
            channel=channel, notification=user.notifications.first(), status="failed", attempts=1,
            last_error=f"Telegram answered HTTP 502 {tag}.",
        )  # fmt: skip
        DeliveryAttempt.objects.create(
            delivery=sent, number=1, started_at=now, duration_ms=120 + i, outcome="temporary",
            error=f"Telegram answered HTTP 502 {tag}.",
        )  # fmt: skip
        BacktestRun.objects.create(
            user=user, strategy="supertrend", exchange="binance", symbol="ETH/USDT", timeframe="1h",
            start=now - timedelta(days=30), end=now, initial_capital=D(1000), fee_rate=D("0.001"),
            slippage_bps=D(5), leverage=1, position_size_pct=D(10), status="failed", error=f"no candles {tag}",
        )  # fmt: skip
        script = PineScript.objects.create(user=user, name=f"script {tag}")
        source = f'//@version=5\nstrategy("{tag}")\nif close > open\n    strategy.entry("L", strategy.long)\n'
        script_version = PineScriptVersion.objects.create(
            script=script, number=1, source=source, sha256=hashlib.sha256(source.encode()).hexdigest(),
            pine_version=5, title=tag, report={"runnable": True, "inputs": []},
        )  # fmt: skip
        listing = Listing.objects.create(
            creator=user, script=script, name=f"listing {tag}", description=f"About {tag}", category="trend",
            tags=[f"tag {tag}"], markets=["BTC/USDT"], timeframe="1h", tier="premium", price_usd=D(10 + i),
            billing="monthly", status="rejected", status_reason=f"rejected {tag}",
        )  # fmt: skip
        listing_version = ListingVersion.objects.create(
            listing=listing, number=1, script_version=script_version, notes=f"first {tag}"
        )
        subscription = Subscription.objects.create(
            listing=listing, user=user, version=listing_version, plan="monthly", price_usd=D(10 + i), status="active",
            started_at=now, expires_at=now + timedelta(days=30), auto_renew=bool(i % 2), provider="test",
            provider_checkout=f"cs_{tag}", provider_subscription=f"sub_{tag}",
        )  # fmt: skip
        payment = Payment.objects.create(
            subscription=subscription, buyer=user, creator=user, listing=listing, amount=D(10 + i),
            creator_share=D("0.7"), provider="test", provider_ref=f"in_{tag}", provider_payment=f"pi_{tag}",
        )  # fmt: skip
        ledger.post_payment(payment)
        payout = Payout.objects.create(creator=user, amount=D(1), reference=f"wire {tag}", recorded_by=user)
        ledger.post_payout(payout)
        Review.objects.create(
            listing=listing, author=user, rating=1 + i % 5, text=f"review {tag}", reply=f"reply {tag}",
            hidden=bool(i % 2), hidden_reason=f"hidden {tag}" if i % 2 else "",
        )  # fmt: skip
        ProviderEvent.objects.create(
            id=f"evt_{tag}", provider="test", type="invoice.paid", created=now, payload={"id": f"evt_{tag}"},
            status="processed" if i % 2 else "ignored", note=f"note {tag}",
        )  # fmt: skip
        created = webhook_services.endpoint_create(user=user, exchange_account=paper, name=f"tv {tag}", bot=bot)
        secrets.add(created.secret, created.endpoint.token, created.endpoint.secret)
        WebhookEvent.objects.create(
            endpoint=created.endpoint, outcome="rejected", reason="stale", message=f"too old {tag}",
            symbol="BTCUSDT", action="buy", source_ip=f"10.0.0.{i + 1}", body={"secret": "***"},
            details={"age": 120 + i, "max_age": 60},
        )  # fmt: skip
        OnboardingState.objects.create(user=user, step=1 + i % 5, data={"account_id": paper.pk})

        Candle.objects.create(
            exchange="binance", symbol=f"{prefix.upper()}{i}/USDT", timeframe="1h",
            open_time=now.replace(minute=0, second=0, microsecond=0), open=1, high=2, low=1, close=2, volume=3,
        )  # fmt: skip
        RegimeModel.objects.create(
            exchange="binance", symbol=f"{prefix.upper()}{i}/USDT", timeframe="1h", version=1, status="live",
            kind="random_forest", code_version=f"code{i}", train_start=now - timedelta(days=900), train_end=now,
            validation_start=now - timedelta(days=100), rows=20_000, train_rows=17_000,
            validation={"random_forest": {"balanced_accuracy": 0.3}}, baseline={"balanced_accuracy": 0.28},
            path=f"regime/{tag}.joblib", sha256="0" * 64, training_seconds=12.5,
        )  # fmt: skip
        ForecastModel.objects.create(
            exchange="binance", symbol=f"{prefix.upper()}{i}/USDT", version=1, live=True, code_version=f"code{i}",
            source_timeframe="1d", first_day=now - timedelta(days=900), last_day=now, rows=800,
            coverage={"7": {"coverage": 0.7}}, path=f"forecast/{tag}.joblib", sha256="0" * 64, training_seconds=3.5,
        )  # fmt: skip
        signal_model = SignalModel.objects.create(
            exchange="binance", symbol=f"{prefix.upper()}{i}/USDT", timeframe="1h", version=1, live=True,
            code_version=f"code{i}", inputs=["votes_net"], horizon=24, rows=9000, first_bar=now - timedelta(days=600),
            last_bar=now, evaluation={"model": {"balanced_accuracy": 0.34}, "votes": {"balanced_accuracy": 0.32}},
            path=f"signal/{tag}.joblib", sha256="0" * 64, training_seconds=40.0,
        )  # fmt: skip
        SignalRecord.objects.create(
            exchange="binance", symbol=f"{prefix.upper()}{i}/USDT", timeframe="1h", bar_close=now - timedelta(hours=i),
            signal=("buy", "hold", "sell")[i % 3], confidence=0.5, price=D(100 + i), horizon=24, model=signal_model,
        )  # fmt: skip
        SentimentSnapshot.objects.create(
            asset=f"{prefix.upper()}{i}", as_of=now - timedelta(minutes=i), window_seconds=86400, status="ok",
            overall=0.1 * i, volume=10 + i, impact=0.05, sources=["news"], payload={"status": "ok"},
        )  # fmt: skip
        llm_key = f"sk-{os.urandom(16).hex()}"
        commentator = commentaries.commentator_save(
            name=f"commentator {tag}", provider=("openai", "anthropic")[i % 2], base_url=f"https://llm.{tag}.example.com/v1",
            model=f"model-{tag}", api_key=llm_key, enabled=i == 0,
        )  # fmt: skip
        secrets.add(llm_key, commentator.api_key)
        LoopTick.objects.create(
            candle_time=now.replace(second=0, microsecond=0) - timedelta(minutes=next(PLACES)), started_at=now,
            finished_at=now if i % 2 else None, shards_total=8, shards_done=8 if i % 2 else 3, overran=not i % 2,
        )  # fmt: skip
        interval = IntervalSchedule.objects.create(every=i + 1, period=IntervalSchedule.MINUTES)
        crontab = CrontabSchedule.objects.create(hour=str(i % 24), minute="5")
        place = next(PLACES)  # solar schedules are unique by event and place
        solar = SolarSchedule.objects.create(event="sunrise", latitude=D(place % 80), longitude=D(place // 80))
        clocked = ClockedSchedule.objects.create(clocked_time=now + timedelta(days=i + 1))
        for kind, schedule in (("interval", interval), ("crontab", crontab), ("solar", solar), ("clocked", clocked)):
            PeriodicTask.objects.create(
                name=f"{kind} {tag}", task=f"trendy.{kind}", **{kind: schedule}, one_off=kind == "clocked"
            )


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def staff(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def secrets():
    return Secrets()


@pytest.fixture
def rows(secrets):
    populate(3, "row", secrets)
    return secrets


def registered() -> list[tuple[str, admin.ModelAdmin]]:
    return sorted(((m._meta.label_lower, ma) for m, ma in admin.site._registry.items()), key=lambda kv: kv[0])


def changelist_url(model_admin: admin.ModelAdmin) -> str:
    opts = model_admin.model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def superuser_request(user) -> object:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


SECTION = re.compile(r'<a href="/admin/[a-z_]+/" class="section" title="[^"]*">([^<]+)</a>')
MODEL_ROW = re.compile(r'<th scope="row" id="[a-z_]+-[a-z_]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>')


def sections(html: str) -> list[str]:
    return SECTION.findall(html)


# ---------------------------------------------------------------- the index: names, in English and Korean


def test_index_is_trendy_administration_with_distinct_sections(staff, rows):
    html = staff.get("/admin/").content.decode()
    assert "<title>Overview | Trendy administration</title>" in html
    assert '<div id="site-name"><a href="/admin/">Trendy administration</a></div>' in html
    names = sections(html)
    assert len(names) >= 9
    assert len(names) == len(set(names)), names
    for name in ("Users", "E-mail addresses", "Two-factor authentication", "Periodic tasks", "Trading", "Webhooks"):
        assert name in names, names
    assert "Accounts" not in names and "MFA" not in names


def test_index_in_korean(staff, rows):
    staff.cookies["django_language"] = "ko"
    html = staff.get("/admin/").content.decode()
    assert '<html lang="ko"' in html
    assert "<title>개요 | Trendy 관리</title>" in html
    assert '<div id="site-name"><a href="/admin/">Trendy 관리</a></div>' in html
    names = sections(html)
    assert len(names) >= 9 and len(names) == len(set(names)), names
    for name in ("사용자", "이메일 주소", "2단계 인증", "주기 작업", "트레이딩", "웹훅"):
        assert name in names, names
    # Every section and model name is Korean: no English word left on the index but names like API.
    models = MODEL_ROW.findall(html)
    assert len(models) == len(admin.site._registry)
    english = {word for name in names + models for word in re.findall(r"[A-Za-z]+", name)} - {"API", "TOTP", "Pine"}
    assert english == set(), english


# ---------------------------------------------------------------- every model of ours reads Korean

OUR_APPS = ("accounts", "market_data", "strategies", "trading", "webhooks", "onboarding", "notifications")
# Names and acronyms that stay as they are on a Korean page.
PROPER = {
    "API", "TOTP", "ID", "IP", "URL", "JSON", "Binance", "OKX", "TradingView", "USDT", "Trendy", "ccxt", "Pine", "SHA",
}  # fmt: skip

TAG = re.compile(r"<[^>]+>")
COLUMN = re.compile(r'<th scope="col"[^>]*>(.*?)</th>', re.S)  # the changelist's column headers
FILTER_TITLE = re.compile(r'<details data-filter-title="([^"]*)"')  # "By …" in the filter sidebar
LABEL = re.compile(r"<label\b[^>]*>(.*?)</label>", re.S)  # form fields, read-only fields, checkboxes
INLINE_COLUMN = re.compile(r'<th class="column-[^"]*">(.*?)</th>', re.S)  # a tabular inline's headers
HEADING = re.compile(r'<h[2-4][^>]*class="(?:fieldset|inline)-heading"[^>]*>(.*?)</h[2-4]>', re.S)


def _texts(pattern: re.Pattern[str], html: str) -> list[str]:
    return [" ".join(unescape(TAG.sub(" ", text)).split()) for text in pattern.findall(html)]


def _english(texts: list[str]) -> set[str]:
    return {word for text in texts for word in re.findall(r"[A-Za-z]+", text)} - PROPER


def our_admins() -> list[tuple[str, admin.ModelAdmin]]:
    return [(label, ma) for label, ma in registered() if ma.model._meta.app_label in OUR_APPS]


def admin_texts(client, model_admin: admin.ModelAdmin, request: object) -> dict[str, list[str]]:
    """What names the columns, filters, fields and sections of a model's changelist, change page (and add page,
    where staff may add): the words a member of staff reads, not the rows' own data."""
    opts = model_admin.model._meta
    found: dict[str, list[str]] = {}
    changelist = client.get(changelist_url(model_admin))
    assert changelist.status_code == 200, opts.label
    html = changelist.content.decode()
    html = html[html.index('<div id="content-main">') :]  # not the navigation sidebar's model table
    found["columns"] = _texts(COLUMN, html)
    found["filters"] = _texts(FILTER_TITLE, html)
    obj = model_admin.model.objects.order_by("pk").first()
    pages = [reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])]
    if model_admin.has_add_permission(request):
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        # The form only: the header's menu, the breadcrumbs and the row's own name are not field names.
        html = html[html.index('<div id="content-main">') :]
        found.setdefault("labels", []).extend(_texts(LABEL, html) + _texts(INLINE_COLUMN, html))
        found.setdefault("headings", []).extend(_texts(HEADING, html))
    return found


def test_every_model_of_ours_names_its_columns_and_fields_in_korean(staff, rows, superuser):
    """A Korean admin page names every column, filter, field and section in Korean. Django's own permission
    names (the user's and the group's permission lists) are options, not labels, and stay as Django has them."""
    staff.cookies["django_language"] = "ko"
    request = superuser_request(superuser)
    admins = our_admins()
    assert {label.split(".")[0] for label, _ in admins} == set(OUR_APPS)
    english = {}
    for label, model_admin in admins:
        found = admin_texts(staff, model_admin, request)
        assert found["columns"] and found["labels"], (label, found)
        words = {kind: sorted(_english(texts)) for kind, texts in found.items() if _english(texts)}
        if words:
            english[label] = words
    assert english == {}, english


def test_the_english_admin_check_sees_english(staff, rows, superuser):
    """The same reading on English pages finds the English names: the Korean check reads real headers and labels."""
    request = superuser_request(superuser)
    found = admin_texts(staff, admin.site._registry[WebhookEvent], request)
    assert {"Received", "Market", "Details", "Endpoint"} <= _english(found["columns"] + found["labels"]), found
    found = admin_texts(staff, admin.site._registry[Bot], request)
    assert {"Exchange", "account", "Peak", "equity"} <= _english(found["columns"] + found["labels"]), found
    assert {"status", "strategy"} <= _english(found["filters"]), found


def test_webhook_event_shows_its_market_time_and_details(staff, rows):
    event = WebhookEvent.objects.order_by("pk").first()
    staff.cookies["django_language"] = "ko"
    html = staff.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk])).content.decode()
    labels = _texts(LABEL, html)
    assert "시장 시간:" in labels and "상세 정보:" in labels, labels
    # As the other JSON fields: the stored JSON as text, escaped.
    assert '<div class="readonly">{&quot;age&quot;: 120, &quot;max_age&quot;: 60}</div>' in html
    assert "field-market_time" in html


def test_section_names_are_the_apps_not_their_labels():
    """Renamed, not relabelled: migrations and permissions keep the libraries' app labels."""
    from django.apps import apps

    assert apps.get_app_config("account").name == "allauth.account"
    assert apps.get_app_config("mfa").name == "allauth.mfa"
    assert apps.get_app_config("django_celery_beat").name == "django_celery_beat"
    assert apps.is_installed("allauth.account") and apps.is_installed("allauth.mfa")


# ---------------------------------------------------------------- every registered model's changelist


def test_every_model_admin_filters_and_searches(superuser):
    request = superuser_request(superuser)
    missing = []
    for label, model_admin in registered():
        allowed = ALLOWLIST.get(label, set())
        if not model_admin.get_search_fields(request) and "search_fields" not in allowed:
            missing.append(f"{label}: search_fields")
        if not model_admin.get_list_filter(request) and "list_filter" not in allowed:
            missing.append(f"{label}: list_filter")
    assert missing == [], "give these admins search and filters, or allowlist them with a reason"
    stale = set(ALLOWLIST) - {label for label, _ in registered()}
    assert stale == set(), "allowlisted models that are no longer registered"


def _search_terms(model_admin: admin.ModelAdmin, request: object) -> list[tuple[str, str, object]]:
    """(search field, a value of it from one stored row, that row's pk) for every search field."""
    model = model_admin.model
    terms = []
    for search_field in model_admin.get_search_fields(request):
        path = search_field.lstrip("^=@")
        row = next((r for r in model.objects.order_by("pk").values_list(path, "pk") if r[0]), None)
        assert row is not None, f"{model._meta.label}: no row has a {path}"
        terms.append((search_field, str(row[0]), row[1]))
    return terms


def test_every_changelist_searches_each_field_and_finds_the_row(staff, rows, superuser):
    request = superuser_request(superuser)
    for label, model_admin in registered():
        url = changelist_url(model_admin)
        for search_field, value, pk in _search_terms(model_admin, request):
            response = staff.get(url, {SEARCH_VAR: f'"{value}"' if " " in value else value})
            assert response.status_code == 200, (label, search_field)
            assert response.context["cl"].queryset.filter(pk=pk).exists(), (label, search_field, value)
            assert rows.found_in(response.content.decode()) == [], (label, search_field)
        # Text that is no id, number or address of any kind: a clear empty result, never an error.
        response = staff.get(url, {SEARCH_VAR: "BINANCE:BTC/USDT 1.2.3.x ☃"})
        assert response.status_code == 200, label


def test_every_changelist_applies_each_filters_first_choice(staff, rows):
    for label, model_admin in registered():
        url = changelist_url(model_admin)
        response = staff.get(url)
        assert response.status_code == 200, label
        assert rows.found_in(response.content.decode()) == [], label
        changelist = response.context["cl"]
        specs = changelist.filter_specs
        assert staff.get(url, {"_facets": "True"}).status_code == 200, label  # "Show counts"
        assert len(specs) >= (0 if "list_filter" in ALLOWLIST.get(label, set()) else 1), label
        for spec in specs:
            choices = [c for c in spec.choices(changelist) if not c["selected"]]
            assert choices, (label, spec.title)
            first = choices[0]["query_string"]
            filtered = staff.get(url + first)
            assert filtered.status_code == 200, (label, spec.title, first)
            # An unknown filter value makes Django redirect with ?e=1; a good one stays on the page.
            assert "e=1" not in filtered.get("Location", ""), (label, first)
            assert rows.found_in(filtered.content.decode()) == [], (label, first)


def test_every_change_page_opens_without_a_secret(staff, rows):
    for label, model_admin in registered():
        obj = model_admin.model.objects.order_by("pk").first()
        opts = model_admin.model._meta
        response = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert response.status_code == 200, label
        assert rows.found_in(response.content.decode()) == [], label


def test_changelist_queries_do_not_grow_with_rows(staff, secrets):
    """Each changelist costs the same queries for 3 rows as for 30: no query per row (N+1)."""
    populate(3, "few", secrets)

    def counts() -> dict[str, int]:
        result = {}
        for label, model_admin in registered():
            url = changelist_url(model_admin)
            # The fewer of two: a cache that every page reads (the market clock) may expire during one.
            measured = []
            for _ in range(2):
                with CaptureQueriesContext(connection) as queries:
                    assert staff.get(url).status_code == 200
                measured.append(len(queries.captured_queries))
            result[label] = min(measured)
        return result

    few = counts()
    populate(27, "many", secrets)
    many = counts()
    assert many == few
    assert max(many.values()) <= 20, many
