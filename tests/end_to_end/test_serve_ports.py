"""``make serve`` on other ports (issue 19, item 10): ``BIND`` alone moves the services,
discovery names the new addresses, and the demo's sign-in, consent and calendar work there.

Runs ``scripts/serve.sh`` itself (the ``make serve`` recipe) on free ports with its SQLite
databases in a temporary folder; requests go over real HTTP, as a browser's would.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import requests

from tests.processes import free_ports, stop_process_group

ROOT = Path(__file__).resolve().parent.parent.parent
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"{url} not up:\n{log.read_text()}"
        time.sleep(0.2)


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found, page
    return found.group(1)


def test_serve_on_other_ports_moves_every_address_and_the_demo_works(tmp_path):
    auth_port, api_port, demo_port, mcp_port, smtp_port, mail_web_port = free_ports(6)
    issuer = f"http://127.0.0.1:{auth_port}"
    mcp = f"http://127.0.0.1:{mcp_port}/mcp"
    api, demo = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{demo_port}"
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("AUTHSERVER_", "RESOURCE_API_", "DEMO_CLIENT_", "MCP_CALENDAR_", "FLASK_")
        )
    }
    env |= {
        "BIND": f"127.0.0.1:{auth_port}",  # the only address of the three services given
        "MAIL_SMTP": f"127.0.0.1:{smtp_port}",  # not the catcher of a `make serve` running here
        "MAIL_WEB": f"127.0.0.1:{mail_web_port}",
        "XDG_RUNTIME_DIR": str(runtime),
        "GUNICORN_WORKERS": "1",
        "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'auth.sqlite3'}",
        "AUTHSERVER_BCRYPT_ROUNDS": "4",
        "RESOURCE_API_DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
        "DEMO_CLIENT_INSTANCE_PATH": str(tmp_path / "demo"),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - the checkout's own script
            ["bash", str(ROOT / "scripts" / "serve.sh")],  # noqa: S607 - as `make serve` runs it
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(f"{issuer}/healthz", server, log)
        _wait_for(f"{api}/openapi.json", server, log)
        _wait_for(f"{demo}/", server, log)
        mcp_metadata_url = f"http://127.0.0.1:{mcp_port}/.well-known/oauth-protected-resource/mcp"
        _wait_for(mcp_metadata_url, server, log)
        printed = log.read_text()
        assert f"redirect_uri: {demo}/callback" in printed
        assert f"open {demo} and click" in printed
        assert f"Connect an MCP client (streamable HTTP) to {mcp}" in printed

        # The MCP server, three ports up, names its own URL and the moved issuer.
        mcp_metadata = requests.get(mcp_metadata_url, timeout=5).json()
        assert mcp_metadata["resource"] == mcp
        assert mcp_metadata["authorization_servers"] == [issuer]
        challenge = requests.post(mcp, json={}, timeout=5)
        assert challenge.status_code == 401
        assert f'resource_metadata="{mcp_metadata_url}"' in challenge.headers["WWW-Authenticate"]

        # Discovery, the API's OpenAPI and the tokens' audience name the bound ports.
        metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
        assert metadata["issuer"] == issuer
        assert metadata["token_endpoint"] == f"{issuer}/oauth/token"
        assert metadata["jwks_uri"].startswith(issuer)
        assert requests.get(f"{api}/openapi.json", timeout=5).json()["servers"] == [{"url": api}]

        # The demo: sign up with Authserver, log in, allow, land on the dashboard with the
        # calendar the API served for the token (issuer and audience agree on the new ports).
        browser = requests.Session()
        home = browser.get(f"{demo}/", timeout=10)
        to_server = browser.post(
            f"{demo}/login", data={"csrf_token": _csrf(home.text)}, timeout=10,
            allow_redirects=False,
        )  # fmt: skip
        assert to_server.status_code == 302
        authorize = to_server.headers["Location"]
        assert authorize.startswith(f"{issuer}/oauth/authorize?")
        assert f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{demo_port}%2Fcallback" in authorize
        login_page = browser.get(authorize, timeout=10)  # to /login, which returns here
        assert login_page.url.startswith(f"{issuer}/login")
        consent = browser.post(
            login_page.url,
            data={
                "csrf_token": _csrf(login_page.text),
                "email": "demo@example.com",
                "password": "demo-password",
            },
            timeout=10,
        )
        assert consent.url.startswith(f"{issuer}/oauth/authorize"), consent.text[:500]
        scopes = re.findall(r'name="scope" value="([^"]+)"', consent.text)
        dashboard = browser.post(
            consent.url,
            data={"csrf_token": _csrf(consent.text), "decision": "allow", "scope": scopes},
            timeout=20,
        )
        assert dashboard.status_code == 200, dashboard.text[:1000]
        assert dashboard.url.startswith(f"{demo}/"), dashboard.url
        assert "Demo User" in dashboard.text
        assert "calendar" in dashboard.text.lower()
        assert "could not" not in dashboard.text.lower(), dashboard.text[:2000]
    finally:
        stop_process_group(server)
