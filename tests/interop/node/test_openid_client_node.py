"""openid-client (Node.js), a certified OpenID Connect relying party, against a live server.

The server runs as in production (`flask --app authserver run` on 127.0.0.1, a temporary SQLite
database); rp.mjs drives discovery → authorize (PKCE S256, state, nonce) → token → ID token
validation → UserInfo → refresh → introspect → revoke with openid-client's own checks; this test
plays the user's browser (login, consent) with plain ``requests``.

Skipped where node or the installed package is missing. To run it (and in CI):
    npm ci --prefix tests/interop/node
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.processes import free_port

NODE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = NODE_DIR.parents[2]
NODE = shutil.which("node")
INSTALLED = (NODE_DIR / "node_modules" / "openid-client" / "package.json").exists()

pytestmark = pytest.mark.skipif(
    NODE is None or not INSTALLED,
    reason="needs node and `npm ci --prefix tests/interop/node`",
)

REDIRECT_URI = "http://127.0.0.1:8765/callback"
EMAIL = "node-rp@example.com"
PASSWORD = "correct horse battery staple"
STARTUP_SECONDS = 30
FLOW_SECONDS = 60


class Server:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = env
        self.issuer = f"http://127.0.0.1:{port}"
        self.port = port
        self.log: list[str] = []

    def flask(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 - fixed argv: this interpreter, our app
            [sys.executable, "-m", "flask", "--app", "authserver", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


def read_log(process: subprocess.Popen, log: list[str]) -> tuple[threading.Thread, queue.Queue]:
    """Keep reading the server's log, so it never blocks on a full pipe."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return reader, lines


def wait_until_serving(lines: queue.Queue, log: list[str]) -> None:
    """Until the log says the server listens: no fixed sleep."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        if "Running on" in line:
            return
    raise AssertionError("server did not start:\n" + "".join(log))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'authserver.sqlite3'}",
        "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}",
        "AUTHSERVER_SECRET_KEY": "node-interop-" + "s" * 32,
        "AUTHSERVER_BCRYPT_ROUNDS": "4",
        "AUTHSERVER_RATELIMIT_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    live = Server(env, port)
    live.flask("db", "upgrade")
    live.flask("users", "create", "--email", EMAIL, "--password", PASSWORD, "--json")
    process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter, our app
        [sys.executable, "-m", "flask", "--app", "authserver", "run"]
        + ["--host", "127.0.0.1", "--port", str(port), "--no-reload", "--no-debugger"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader, lines = read_log(process, live.log)
    try:
        wait_until_serving(lines, live.log)
        yield live
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)  # the pipe is at its end once the server has exited
        process.stderr.close()


def browser_consents(issuer: str, authorize_url: str) -> str:
    """The user's part: log in, allow every requested scope; the callback URL."""
    assert authorize_url.startswith(issuer + "/oauth/authorize?")
    with requests.Session() as browser:
        page = browser.get(f"{issuer}/login", timeout=10)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        answer = browser.post(
            f"{issuer}/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text
        page = browser.get(authorize_url, allow_redirects=False, timeout=10)
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        scopes = re.findall(r'name="scope" value="([^"]+)"', page.text)
        answer = browser.post(
            authorize_url,
            data={"csrf_token": token, "decision": "allow", "scope": scopes},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]


def test_openid_client_completes_the_flow(server: Server):
    created = json.loads(
        server.flask(
            "clients",
            "create",
            "--name",
            "openid-client RP",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "openid profile email offline_access",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--json",
        )
    )
    rp = subprocess.Popen(  # noqa: S603 - fixed argv: node and our script
        [NODE, "rp.mjs"],
        cwd=NODE_DIR,
        env={
            **os.environ,
            "ISSUER": server.issuer,
            "CLIENT_ID": created["client_id"],
            "CLIENT_SECRET": created["client_secret"],
            "REDIRECT_URI": REDIRECT_URI,
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(rp.stdout.readline() or '{"error": "rp printed nothing"}')
        assert "authorize" in first, first
        callback = browser_consents(server.issuer, first["authorize"])
        output, errors = rp.communicate(callback + "\n", timeout=FLOW_SECONDS)
    finally:
        if rp.poll() is None:
            rp.kill()
            rp.communicate()
    assert rp.returncode == 0, (output, errors, "".join(server.log[-30:]))
    result = json.loads(output.strip().splitlines()[-1])["result"]

    assert result["issuer"] == server.issuer
    claims = result["claims"]
    assert claims["iss"] == server.issuer
    assert claims["aud"] == created["client_id"]
    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["email"] == EMAIL
    assert result["refreshed_differs"] is True
    assert result["introspection_before"]["active"] is True
    assert result["introspection_after_access"] == {"active": False}
    assert result["introspection_after_refresh"] == {"active": False}
    assert result["refresh_after_revocation"] == "invalid_grant"
    assert result["end_session"].startswith(f"{server.issuer}/oauth/logout?id_token_hint=")
