"""The API does what its schema says: schemathesis over every operation of ``/api/v1/schema/``, in-process.

The whole schemathesis engine runs as ``st run`` would (examples, coverage, fuzzing and stateful phases, every
check of the installed version), against the WSGI application (no network), authenticated with the API token
of a trader who has a bit of everything (``tests/trading_site/api_trader.py``). Bounded and seeded: a fixed
number of examples per operation, ``deterministic`` generation, no example database, one worker.

Any failure of any check, and any 5xx, fails the test with the list of what failed and a curl line to
reproduce each. Nothing is excluded: destructive operations (DELETE an account or an endpoint, rotate a secret,
stop a bot) run too, and whatever they leave behind (404 on a deleted id) is something the schema must say.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connections

from tests.trading_site.api_trader import build_trader

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import engine  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.engine import Status, events  # noqa: E402

# Imported now, not lazily inside from_wsgi: by then the WSGI application has started its Pine warm-up thread, and
# CPython 3.11's parser is not safe in two threads at once — pytest's assertion rewriting parses schemathesis's
# modules (a pytest plugin) as they load, and failed once with "AST constructor recursion depth mismatch".
from schemathesis.openapi import loaders as _loaders  # noqa: E402, F401
from schemathesis.python import wsgi as schemathesis_wsgi  # noqa: E402
from schemathesis.specs.openapi import schemas as _schemas  # noqa: E402, F401

MAX_EXAMPLES = 4
THREAD_CONNECTIONS: set = set()
TIMINGS: collections.Counter[tuple[str, str]] = collections.Counter()
SEED = 13
SCHEMA_PATH = "/api/v1/schema/"

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trader(tmp_path: Path, settings, monkeypatch) -> Iterator:
    # The engine calls the application from its worker thread, which opens its own database connection: the
    # trader's rows must be committed (transaction=True), and that connection is closed at the end (below), or
    # the test database could not be dropped.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, schemathesis_wsgi.HOST]
    settings.TRENDY_PINE_WARM_UP = False  # no parser thread beside the run (see the imports above)
    # The run tests the operations, not the rate limits: thousands of requests a minute from one user.
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES, "100000/min")
    )
    # schemathesis 4.32.5: a check that re-sends a request without a network session (ignored_auth) hands the
    # WSGI transport the socket settings too, which Werkzeug refuses (TypeError). They mean nothing in-process.
    from schemathesis.transport.wsgi import WSGITransport

    send = WSGITransport.send

    def send_in_process(self, case, *, session=None, **kwargs):
        for name in ("max_redirects", "verify", "cert", "proxies"):
            kwargs.pop(name, None)
        return send(self, case, session=session, **kwargs)

    monkeypatch.setattr(WSGITransport, "send", send_in_process)
    cache.clear()
    yield build_trader(tmp_path)
    while THREAD_CONNECTIONS:
        connection = THREAD_CONNECTIONS.pop()
        connection.inc_thread_sharing()  # closed from this thread, once its own has finished
        connection.close()
    cache.clear()


def _config(token: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # no .schemathesis/ folder left in the checkout
            "workers": 1,
            "headers": {"Authorization": f"Bearer {token}"},
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {
                "enabled": True,
                # A schema-valid request may still be refused for what no schema can say: an exchange account
                # or bot id that is not the user's, a period without candles, a setting over the user's risk
                # profile, a decimal over its range (decimals are strings), an Idempotency-Key reused (422).
                # Those refusals are 400/422 with the error shape; anything else (5xx, 415, 405…) still fails.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]
                },
            },
            "continue-on-failure": True,
            # Two methods no operation has (each must be a 405 with Allow) instead of six: the same check, less time.
            "phases": {"coverage": {"unexpected-methods": ["PUT", "TRACE"]}},
        }
    )


def _application(environ, start_response):
    """The project's WSGI application; the calling thread's connection is kept to be closed after the run."""
    from trading_site.wsgi import application

    THREAD_CONNECTIONS.add(connections["default"])
    return application(environ, start_response)


def run_schemathesis(token: str) -> tuple[int, collections.Counter[int], list[str]]:
    """Run every phase with every check; return (responses, statuses, failures as readable lines)."""
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, _application, config=_config(token))
    responses = 0
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            TIMINGS[(str(event.phase), recorder.label)] += event.elapsed_time
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    responses += 1
                    statuses[interaction.response.status_code] += 1
            for checks in recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"{recorder.label}: {check.name}: {failure.title}\n    {failure.message}\n"
                            f"    {check.failure_info.code_sample}"
                        )
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            value = getattr(event, "value", None) or getattr(event, "exception", None)
            failures.append(f"schemathesis error: {getattr(event, 'label', '')}: {type(value).__name__}: {value}")
    return responses, statuses, sorted(set(failures))


def test_every_operation_answers_what_the_schema_says(trader):
    started = time.perf_counter()
    responses, statuses, failures = run_schemathesis(trader.token)
    elapsed = time.perf_counter() - started
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    summary = f"{responses} responses in {elapsed:.0f} s, by status {dict(sorted(statuses.items()))}"
    print(summary)
    phases: collections.Counter[str] = collections.Counter()
    for (phase, _label), seconds in TIMINGS.items():
        phases[phase] += seconds
    print("by phase:", {phase: round(seconds) for phase, seconds in phases.items()})
    print("slowest:", [(label, round(seconds)) for label, seconds in TIMINGS.most_common(8)])
    assert not failures, f"{summary}\n{len(failures)} failures:\n" + "\n".join(failures)
    assert server_errors == 0, summary
    assert responses > 1000, summary  # the run did reach every operation
