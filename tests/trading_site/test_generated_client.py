"""A client generated from the OpenAPI schema works: the schema (``manage.py spectacular``) goes through
openapi-python-client, the generated package compiles and imports, and its calls — the ones the mobile app's
screens make — answer a live server with typed objects. A schema that lies about a shape fails here as a parse
error in the generated code, not in a phone."""

from __future__ import annotations

import compileall
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command

from tests.trading_site.api_trader import PASSWORD, build_trader

pytestmark = [pytest.mark.django_db(transaction=True)]
PACKAGE = "trendy_client"


@pytest.fixture
def generated(tmp_path: Path):
    schema = tmp_path / "schema.yml"
    call_command("spectacular", file=str(schema), fail_on_warn=True)
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(schema), "--meta", "none",
         "--output-path", str(tmp_path / PACKAGE)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr  # every operation generated
    assert compileall.compile_dir(tmp_path / PACKAGE, quiet=1)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_the_generated_client_drives_a_live_server(generated, live_server, tmp_path, settings):
    from trendy_client import AuthenticatedClient, Client
    from trendy_client.api.auth import auth_sessions_list, auth_token_create
    from trendy_client.api.bots import bots_list
    from trendy_client.api.dashboard import dashboard_stats
    from trendy_client.api.market_data import market_data_tickers_list
    from trendy_client.api.me import me_retrieve
    from trendy_client.api.positions import positions_list
    from trendy_client.models import TokenObtainRequest

    settings.TRENDY_PINE_WARM_UP = False
    (tmp_path / "data").mkdir()
    trader = build_trader(tmp_path / "data")
    EmailAddress.objects.create(user=trader.user, email=trader.user.email, verified=True, primary=True)
    anonymous = Client(base_url=live_server.url)
    signed_in = auth_token_create.sync(
        client=anonymous, body=TokenObtainRequest(email=trader.user.email, password=PASSWORD, name="smoke")
    )
    assert signed_in.token.startswith("tdy_") and signed_in.expires_at.year >= 2026
    client = AuthenticatedClient(base_url=live_server.url, token=signed_in.token)

    me = me_retrieve.sync(client=client)
    assert me.email == trader.user.email
    stats = dashboard_stats.sync(client=client)
    assert stats.bots >= 4 and stats.open_positions >= 1 and isinstance(stats.balances, list)
    bots = bots_list.sync(client=client)
    assert {b.name for b in bots.results} >= {"Runner", "Paused", "Stopped", "Halted"}
    positions = positions_list.sync(client=client)
    assert positions.results and all(p.symbol for p in positions.results)
    tickers = market_data_tickers_list.sync(client=client)
    assert tickers and tickers[0].last > 0
    sessions = auth_sessions_list.sync(client=client)
    assert [s.name for s in sessions if s.current] == ["smoke"] and len(sessions) == 2  # and schemathesis' token
    refused = me_retrieve.sync_detailed(client=AuthenticatedClient(base_url=live_server.url, token="tdy_no_such"))
    assert refused.status_code == 401
