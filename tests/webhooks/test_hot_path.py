"""The receiver's hot path (issue 14): its own door in front of Django (WSGI and ASGI), the endpoint query
compiled once, the prepared INSERT behind ``WebhookEvent.objects.create``, the task message pushed with one
LPUSH, and the JSON read by orjson. Each gives the same answers, rows and messages as the general path."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.db.models import signals
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import needs_postgres
from webhooks import hotpath, services, validation
from webhooks.models import WebhookEvent
from webhooks.receiver_app import receiver_first, receiver_first_asgi

from .conftest import alert

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def request_signals_kept():
    """As Django's test client does: the request signals must not close the test's database connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def wsgi_call(app, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, dict, bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **headers,
    }
    answer: dict = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    with request_signals_kept():
        response = app(environ, start_response)
        try:
            content = b"".join(response)
        finally:
            getattr(response, "close", lambda: None)()
    return answer["status"], answer["headers"], content


@pytest.fixture(scope="module")
def wsgi():
    return receiver_first(get_wsgi_application())


API_HEADERS = (
    "Cache-Control",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Content-Security-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Language",
)


def test_the_door_answers_like_djangos_route(wsgi, endpoint, client, prices, django_capture_on_commit_callbacks):
    path, body = endpoint.endpoint.path, json.dumps(alert(endpoint.secret))
    with django_capture_on_commit_callbacks():
        status, headers, content = wsgi_call(wsgi, "POST", path, body.encode())
    assert status == 200, content
    event = WebhookEvent.objects.get(pk=json.loads(content)["event"])
    assert json.loads(content) == {"status": "accepted", "event": event.pk}
    assert event.outcome == "accepted" and event.status == "pending" and event.body["secret"] == "***"
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    routed = client.post(path, body, content_type="application/json")
    for name in API_HEADERS:
        assert headers[name] == routed[name], name
    assert headers["Vary"] == "Accept-Language"  # the route's also names Cookie: the door reads no session
    # The copy: the same duplicate answer from both doors.
    status, _headers, content = wsgi_call(wsgi, "POST", path, body.encode())
    assert status == 200 and json.loads(content) == {"status": "duplicate", "event": event.pk}
    assert routed.json() == {"status": "duplicate", "event": event.pk}


def test_every_404_of_the_door_is_the_same_as_the_routes(wsgi, endpoint, client, prices):
    unknown = wsgi_call(wsgi, "POST", "/webhooks/tv/no-such-token/", json.dumps(alert("whs_x")).encode())
    wrong = wsgi_call(wsgi, "POST", endpoint.endpoint.path, json.dumps(alert("whs_wrong")).encode())
    routed = client.post("/webhooks/tv/no-such-token/", json.dumps(alert("whs_x")), content_type="application/json")
    assert unknown[0] == wrong[0] == routed.status_code == 404
    assert unknown[2] == wrong[2] == routed.content
    reasons = list(WebhookEvent.objects.order_by("id").values_list("reason", flat=True))
    assert reasons == ["unknown_token", "bad_secret", "unknown_token"]


def test_the_door_refuses_a_declared_size_unread_and_reads_a_chunked_body(wsgi, endpoint, prices):
    big = wsgi_call(wsgi, "POST", endpoint.endpoint.path, b"", CONTENT_LENGTH=str(10 * 1024 * 1024))
    assert big[0] == 413 and json.loads(big[2])["reason"] == "too_large"
    body = json.dumps(alert(endpoint.secret)).encode()
    chunked = wsgi_call(
        wsgi, "POST", endpoint.endpoint.path, body, HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input_terminated": True}
    )
    assert chunked[0] == 200 and json.loads(chunked[2])["status"] == "accepted"


def test_the_door_leaves_everything_else_to_django(wsgi, endpoint):
    status, headers, _content = wsgi_call(wsgi, "GET", endpoint.endpoint.path)
    assert status == 405 and "POST" in headers["Allow"]
    status, _headers, _content = wsgi_call(wsgi, "POST", "/webhooks/tv/x/y/", b"{}")
    assert status == 404
    assert wsgi_call(wsgi, "GET", "/healthz")[0] in (200, 503)


def test_the_door_checks_the_host(wsgi, endpoint, prices):
    status, _headers, _content = wsgi_call(
        wsgi, "POST", endpoint.endpoint.path, json.dumps(alert(endpoint.secret)).encode(), HTTP_HOST="evil.example"
    )
    assert status == 400
    assert not WebhookEvent.objects.exists()


def test_the_door_redirects_to_https_like_the_site(wsgi, endpoint, settings):
    settings.SECURE_SSL_REDIRECT = True
    door = receiver_first(get_wsgi_application())  # SecurityMiddleware reads the setting when it is built
    status, headers, _content = wsgi_call(door, "POST", endpoint.endpoint.path, b"{}")
    assert status == 301 and headers["Location"].startswith("https://")
    assert not WebhookEvent.objects.exists()


def test_the_door_answers_in_the_senders_language_like_the_route(wsgi, alice, endpoint, client, prices):
    alice.auto_trading = False
    alice.save(update_fields=["auto_trading"])
    body = json.dumps(alert(endpoint.secret)).encode()
    status, headers, content = wsgi_call(wsgi, "POST", endpoint.endpoint.path, body, HTTP_ACCEPT_LANGUAGE="ko")
    routed = client.post(
        endpoint.endpoint.path, json.dumps(alert(endpoint.secret, order_id="2")), "application/json",
        HTTP_ACCEPT_LANGUAGE="ko",
    )  # fmt: skip
    assert status == routed.status_code == 409
    assert json.loads(content)["message"] == routed.json()["message"]
    assert headers["Content-Language"] == routed["Content-Language"] == "ko"


def asgi_call(app, path: str, body: bytes, chunks: int = 1, **headers: str) -> tuple[int, dict, bytes]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")]
        + [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "scheme": "http",
        "http_version": "1.1",
    }
    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with request_signals_kept():
        async_to_sync(app)(scope, receive, send)
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, sent[1]["body"]


def test_the_asgi_door_answers_like_the_wsgi_one(endpoint, prices, django_capture_on_commit_callbacks):
    async def not_here(scope, receive, send):
        raise AssertionError("the receiver's request reached Django's ASGI handler")

    app = receiver_first_asgi(not_here)
    body = json.dumps(alert(endpoint.secret)).encode()
    with django_capture_on_commit_callbacks():
        status, headers, content = asgi_call(app, endpoint.endpoint.path, body, chunks=3)
    assert status == 200, content
    assert json.loads(content)["status"] == "accepted" and headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff" and "content-security-policy" in headers
    copy = asgi_call(app, endpoint.endpoint.path, body, **{"content-length": str(len(body))})
    assert json.loads(copy[2])["status"] == "duplicate"
    big = asgi_call(app, endpoint.endpoint.path, b"", **{"content-length": str(10 * 1024 * 1024)})
    assert big[0] == 413
    unsized = asgi_call(app, endpoint.endpoint.path, b"x" * (validation.MAX_BODY_BYTES + 100), chunks=4)
    assert unsized[0] == 413


# --- the compiled query and the prepared insert --------------------------------------------------------------


def test_the_compiled_endpoint_query_reads_what_the_orm_reads(alice, paper, alice_bot):
    created = services.endpoint_create(user=alice, exchange_account=paper, name="TV", bot=alice_bot)
    for _ in range(2):  # compiled on the first call, reused on the second
        found = services._endpoint_for(created.endpoint.token)
        assert found.pk == created.endpoint.pk and found.exchange_account.label == "Paper"
        assert found.user.auto_trading == alice.auto_trading and found.bot.timeframe == "1h"
        assert found.allowed_symbols == [] and found.revoked_at is None
        assert services.endpoint_secret(found) == created.secret
    assert services._endpoint_for("no-such-token") is None
    unbound = services.endpoint_create(user=alice, exchange_account=paper, name="TV 2")
    assert services._endpoint_for(unbound.endpoint.token).bot is None


def test_create_writes_the_row_and_sends_the_signals_the_orm_sends(endpoint):
    seen = []

    def pre(sender, instance, **kwargs):
        seen.append(("pre", instance.pk, kwargs["raw"]))

    def post(sender, instance, created, **kwargs):
        seen.append(("post", instance.pk, created))

    signals.pre_save.connect(pre, sender=WebhookEvent)
    signals.post_save.connect(post, sender=WebhookEvent)
    try:
        event = WebhookEvent.objects.create(
            endpoint=endpoint.endpoint, outcome="accepted", status="pending", dedupe_key="k", body={"n": "1.5"}
        )
    finally:
        signals.pre_save.disconnect(pre, sender=WebhookEvent)
        signals.post_save.disconnect(post, sender=WebhookEvent)
    assert seen == [("pre", None, False), ("post", event.pk, True)]
    assert not event._state.adding and event._state.db == "default"
    stored = WebhookEvent.objects.get(pk=event.pk)
    assert stored.body == {"n": "1.5"} and stored.details == {} and stored.adjustments == []
    assert stored.endpoint_id == endpoint.endpoint.pk and stored.received_at == event.received_at


def test_create_with_an_expression_is_the_orms(endpoint):
    from django.db.models.functions import Now

    event = WebhookEvent.objects.create(endpoint=endpoint.endpoint, outcome="rejected", received_at=Now())
    assert WebhookEvent.objects.get(pk=event.pk).received_at is not None


@needs_postgres
def test_the_unique_index_still_decides_in_the_prepared_insert(endpoint):
    from django.db import IntegrityError, transaction

    WebhookEvent.objects.create(endpoint=endpoint.endpoint, outcome="accepted", dedupe_key="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookEvent.objects.create(endpoint=endpoint.endpoint, outcome="accepted", dedupe_key="same")
    assert WebhookEvent.objects.filter(dedupe_key="same").count() == 1


# --- the enqueue ---------------------------------------------------------------------------------------------

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@contextlib.contextmanager
def celery_conf(app, **values):
    """Celery's configuration changed for one test (its Settings object refuses monkeypatch's undo)."""
    before = {key: app.conf[key] for key in values}
    app.conf.update(values)
    try:
        yield
    finally:
        app.conf.update(before)


def _envelope(raw: bytes) -> dict:
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


@pytest.mark.skipif(
    not __import__("os").environ.get("REDIS_URL"), reason="needs REDIS_URL=redis://… (the broker's Redis)"
)
def test_the_pushed_message_is_the_one_celery_publishes(monkeypatch, django_capture_on_commit_callbacks):
    from trading_site import dispatch

    task = dispatch.task("webhooks.process_event")
    with celery_conf(task.app, task_always_eager=False):
        assert hotpath.direct_publish_possible(task)
        route = hotpath._Route(task)
        probe = "whtest-probe"
        route.client.delete(probe)
        route.queue = probe
        monkeypatch.setitem(hotpath._routes, task.name, route)
        assert hotpath.publish(task, 42)
        with django_capture_on_commit_callbacks(execute=True):
            task.apply_async((42,), queue=probe)
    ours, celerys = (_envelope(route.client.rpop(probe)) for _ in range(2))
    route.client.delete(probe)
    assert ours["body"] == celerys["body"] == [[42], {}, EMBED]
    assert set(ours) == set(celerys) and set(ours["headers"]) == set(celerys["headers"])
    assert set(ours["properties"]) == set(celerys["properties"])
    for key in ("id", "root_id", "origin"):
        ours["headers"].pop(key), celerys["headers"].pop(key)
    assert ours["headers"] == celerys["headers"]
    for key in ("correlation_id", "delivery_tag", "reply_to", "delivery_info"):
        ours["properties"].pop(key), celerys["properties"].pop(key)
    assert ours["properties"] == celerys["properties"]
    for key in ("body", "headers", "properties"):
        ours.pop(key), celerys.pop(key)
    assert ours == celerys == {"content-encoding": "utf-8", "content-type": "application/json"}


def test_eager_tasks_and_other_brokers_take_celerys_own_publish():
    from trading_site import dispatch

    task = dispatch.task("webhooks.process_event")
    assert not hotpath.direct_publish_possible(task)  # tests run tasks eagerly
    with celery_conf(task.app, task_always_eager=False, broker_url="filesystem://"):
        assert not hotpath.direct_publish_possible(task) and not hotpath.publish(task, 1)
    with celery_conf(
        task.app, task_always_eager=False, broker_url="redis://127.0.0.1:6379/0",
        broker_transport_options={"global_keyprefix": "x:"},
    ):  # fmt: skip
        assert not hotpath.direct_publish_possible(task)


# --- orjson ----------------------------------------------------------------------------------------------------


def _reference(body: bytes):
    """What the standard library reads (every fraction a Decimal), or the refusal's code."""
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=validation._no_constant)
    except (ValueError, RecursionError):
        return "not_json"
    return data if isinstance(data, dict) else "not_object"


def _parsed(body: bytes):
    try:
        return validation.parse_body(body)
    except validation.AlertError as exc:
        return exc.code


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.dictionaries(st.text(max_size=8), JSON, max_size=6))
def test_the_fast_reader_gives_the_standard_librarys_answer(value):
    body = json.dumps(value).encode()
    fast = validation._parse_fast(body)
    assert fast is None or fast == _reference(body)
    assert _parsed(body) == _reference(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1.5}',
        b'{"a": 1e5}',
        b'{"a": [1, {"b": 0.1}]}',
        b'{"a": 123456789012345678901234567890}',
        b'{"a": "\\ud800"}',
        b'{"x": ' + b"[" * 70 + b"]" * 70 + b"}",
        b'{"a": NaN}',
        b"[1]",
    ],
)
def test_what_orjson_reads_differently_goes_to_the_standard_library(body):
    assert validation._parse_fast(body) is None
    assert _parsed(body) == _reference(body)


def test_a_dead_broker_under_the_push_still_answers_accepted_and_the_sweeper_trades_it(
    endpoint, client, prices, monkeypatch, django_capture_on_commit_callbacks
):
    import socket
    from datetime import timedelta

    from trading_site import dispatch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed: connections are refused
    task = dispatch.task("webhooks.process_event")
    monkeypatch.setattr(hotpath, "_routes", {})
    with celery_conf(
        task.app, task_always_eager=False, broker_url=f"redis://127.0.0.1:{port}/0", broker_transport_options={}
    ):
        assert hotpath.direct_publish_possible(task)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(endpoint.endpoint.path, json.dumps(alert(endpoint.secret)), "application/json")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert event.status == "pending"  # stored, not sent
    with django_capture_on_commit_callbacks(execute=True):
        assert services.events_sweep(older_than=timedelta(0)) == 1
    event.refresh_from_db()
    assert event.status == "done", event.result
