"""openid-client (Node.js) binding a public client's tokens to a DPoP key, against the live
authorization server and resource API: PAR with a DPoP header, the code flow with PKCE, a DPoP
call to ``GET /api/events``, refresh with the same key (and without: refused), the API again.

Both services run as in production (``flask run`` on 127.0.0.1, temporary SQLite databases),
with server nonces required so openid-client's ``use_dpop_nonce`` retry is exercised too;
dpop_par.mjs drives the client, this test plays the user's browser. Skipped where node or the
installed package is missing (``npm ci --prefix tests/interop/node``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import free_ports

from .test_openid_client_node import (
    EMAIL,
    FLOW_SECONDS,
    INSTALLED,
    NODE,
    NODE_DIR,
    PASSWORD,
    PROJECT_ROOT,
    Browser,
    FlaskRun,
    Server,
)

pytestmark = pytest.mark.skipif(
    NODE is None or not INSTALLED,
    reason="needs node and `npm ci --prefix tests/interop/node`",
)

REDIRECT_URI = "http://127.0.0.1:8766/callback"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    auth_port, api_port = free_ports(2)
    api = f"http://127.0.0.1:{api_port}"
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AUTHSERVER_", "RESOURCE_API_"))
        },
        "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'authserver.sqlite3'}",
        "AUTHSERVER_ISSUER": f"http://127.0.0.1:{auth_port}",
        "AUTHSERVER_DEFAULT_AUDIENCE": api,
        "AUTHSERVER_SECRET_KEY": "node-dpop-" + "s" * 32,
        "AUTHSERVER_BCRYPT_ROUNDS": "4",
        "AUTHSERVER_RATELIMIT_ENABLED": "false",
        "AUTHSERVER_DPOP_NONCE_REQUIRED": "true",
        "RESOURCE_API_DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
        "RESOURCE_API_ISSUER": f"http://127.0.0.1:{auth_port}",
        "RESOURCE_API_AUDIENCE": api,
        "PYTHONUNBUFFERED": "1",
    }
    live = Server(env, auth_port)
    live.flask("db", "upgrade")
    live.flask("users", "create", "--email", EMAIL, "--password", PASSWORD, "--json")
    upgraded = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "resource_api", "db", "upgrade"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    auth = FlaskRun("authserver", auth_port, env, live.log)
    api_log: list[str] = []
    resource = FlaskRun("resource_api", api_port, env, api_log)
    try:
        auth.wait_until_serving()
        resource.wait_until_serving()
        live.log.extend(api_log)  # one log to show when the flow fails
        yield live, api
    finally:
        auth.stop()
        resource.stop()


def test_openid_client_binds_par_code_refresh_and_api_calls_to_its_key(services) -> None:
    server, api = services
    created = json.loads(
        server.flask(
            "clients", "create", "--name", "openid-client DPoP", "--public",
            "--redirect-uri", REDIRECT_URI, "--scope", "openid offline_access events:read",
            "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--require-par", "--dpop-bound", "--json",
        )
    )  # fmt: skip
    rp = subprocess.Popen(  # noqa: S603 - fixed argv: node and our script
        [NODE, "dpop_par.mjs"],
        cwd=NODE_DIR,
        env={
            **os.environ,
            "ISSUER": server.issuer,
            "CLIENT_ID": created["client_id"],
            "REDIRECT_URI": REDIRECT_URI,
            "API": api,
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(rp.stdout.readline() or '{"error": "the client printed nothing"}')
        assert "authorize" in first, (first, "".join(server.log[-30:]))
        assert "request_uri=" in first["authorize"]  # pushed, not sent in the URL
        browser = Browser(server.issuer)
        browser.log_in()
        callback = browser.consent(first["authorize"])
        output, errors = rp.communicate(callback + "\n", timeout=FLOW_SECONDS)
    finally:
        if rp.poll() is None:
            rp.kill()
            rp.communicate()
    assert rp.returncode == 0, (output, errors, "".join(server.log[-30:]))
    result = json.loads(output.strip().splitlines()[-1])["result"]

    assert result["issuer"] == server.issuer
    assert "ES256" in result["dpop_algs"]
    assert result["token_type"].lower() == "dpop"
    assert result["refreshed_token_type"].lower() == "dpop"
    assert result["refreshed_differs"] is True
    assert result["first_call"]["status"] == 200
    assert result["second_call"]["status"] == 200
    assert result["as_bearer_status"] == 401
    assert 'error="invalid_token"' in result["as_bearer_challenge"]
    assert result["unbound_refresh"] == "invalid_dpop_proof"
