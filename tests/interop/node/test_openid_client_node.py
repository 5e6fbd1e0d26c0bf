"""openid-client (Node.js), a certified OpenID Connect relying party, against a live server.

The server runs as in production (`flask --app authserver run` on 127.0.0.1, a temporary SQLite
database, the outbox sending back-channel logouts); rp.mjs drives, with openid-client's own
checks, one scenario per test: discovery → authorize (PKCE S256, state, nonce) → token → ID token
validation → UserInfo → refresh → introspect → revoke → RP-initiated logout and the back-channel
logout token (client_secret_basic); the same code flow authenticated with private_key_jwt; and
the device grant (RFC 8628). These tests play the user's browser (login, consent, the device
page) with plain ``requests`` and the RP's back-channel receiver (tests/hostile_server.py).

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
from urllib.parse import parse_qs

import pytest
import requests
from joserfc.jwk import RSAKey

from authserver import policy
from tests.hostile_server import Answer, HostileServer, running_server
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
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:8765/signed-out"
RECEIVER_PATH = "/backchannel-logout"
EMAIL = "node-rp@example.com"
PASSWORD = "correct horse battery staple"
NAME = "Node Person"
STARTUP_SECONDS = 30
FLOW_SECONDS = 60
DELIVERY_SECONDS = 20
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


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


class FlaskRun:
    """One app served by ``flask run`` on a loopback port, its stderr read into ``log``."""

    def __init__(self, app: str, port: int, env: dict[str, str], log: list[str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter, our app
            [sys.executable, "-m", "flask", "--app", app, "run"]
            + ["--host", "127.0.0.1", "--port", str(port), "--no-reload", "--no-debugger"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log = log
        self.reader, self.lines = read_log(self.process, log)

    def wait_until_serving(self) -> None:
        wait_until_serving(self.lines, self.log)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)  # the pipe is at its end once the server has exited
        assert self.process.stderr is not None
        self.process.stderr.close()


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
        # The back-channel logout receiver is this test, on loopback http; the outbox sends
        # soon after a logout (a test waits for the POST with a deadline, never a fixed sleep).
        "AUTHSERVER_OUTBOUND_ALLOW_LOOPBACK": "true",
        "AUTHSERVER_OUTBOX_INTERVAL": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    live = Server(env, port)
    live.flask("db", "upgrade")
    live.flask(
        "users", "create", "--email", EMAIL, "--password", PASSWORD, "--name", NAME, "--json"
    )
    served = FlaskRun("authserver", port, env, live.log)
    try:
        served.wait_until_serving()
        yield live
    finally:
        served.stop()


class Browser:
    """The person's user agent: one cookie jar, logged in as EMAIL."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.http = requests.Session()

    def log_in(self) -> None:
        page = self.http.get(f"{self.issuer}/login", timeout=10)
        answer = self.http.post(
            f"{self.issuer}/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf(page.text)},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text

    def consent(self, authorize_url: str) -> str:
        """Allow every requested scope on the consent page; the callback URL."""
        assert authorize_url.startswith(self.issuer + "/oauth/authorize?")
        page = self.http.get(authorize_url, allow_redirects=False, timeout=10)
        assert page.status_code == 200, page.text
        answer = self.http.post(
            authorize_url,
            data={"csrf_token": csrf(page.text), "decision": "allow", "scope": scopes(page.text)},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]

    def approve_device(self, verification_uri: str, user_code: str) -> None:
        """RFC 8628 §3.3: type the user code on the verification page, then allow."""
        assert verification_uri == f"{self.issuer}/device"
        page = self.http.get(verification_uri, timeout=10)
        consent = self.http.post(
            verification_uri,
            data={"csrf_token": csrf(page.text), "user_code": user_code},
            timeout=10,
        )
        assert consent.status_code == 200 and 'name="decision"' in consent.text, consent.text
        typed = re.search(r'name="user_code" value="([^"]+)"', consent.text).group(1)
        done = self.http.post(
            verification_uri,
            data={
                "csrf_token": csrf(consent.text),
                "user_code": typed,
                "decision": "allow",
                "scope": scopes(consent.text),
            },
            timeout=10,
        )
        assert done.status_code == 200, done.text

    def logged_in(self) -> bool:
        """Whether the server still knows this browser: /account/apps answers, no login page."""
        page = self.http.get(f"{self.issuer}/account/apps", allow_redirects=False, timeout=10)
        return page.status_code == 200


def csrf(html: str) -> str:
    return _CSRF.search(html).group(1)


def scopes(html: str) -> list[str]:
    return re.findall(r'name="scope" value="([^"]+)"', html)


class RelyingParty:
    """rp.mjs in one mode: JSON lines out, the browser's results in."""

    def __init__(self, server: Server, **env: str) -> None:
        self.server = server
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv: node and our script
            [NODE, "rp.mjs"],
            cwd=NODE_DIR,
            env={**os.environ, "ISSUER": server.issuer, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def read(self) -> dict:
        line = self.process.stdout.readline()
        message = json.loads(line or '{"error": "rp printed nothing"}')
        assert "error" not in message, (message, self.diagnostics())
        return message

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def result(self) -> dict:
        output, errors = self.process.communicate(timeout=FLOW_SECONDS)
        assert self.process.returncode == 0, (output, errors, "".join(self.server.log[-30:]))
        return json.loads(output.strip().splitlines()[-1])["result"]

    def diagnostics(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        output, errors = self.process.communicate()
        return f"{output}\n{errors}\n" + "".join(self.server.log[-30:])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def receiver() -> Iterator[HostileServer]:
    """The relying party's back-channel logout endpoint (answers 200, remembers each POST)."""
    servers = running_server()
    server = next(servers)
    server.answers[RECEIVER_PATH] = Answer(200, b"", headers={})
    yield server
    next(servers, None)


def create_client(server: Server, *options: str) -> dict:
    return json.loads(
        server.flask("clients", "create", "--name", "openid-client RP", *options, "--json")
    )


CODE_CLIENT = (
    "--redirect-uri",
    REDIRECT_URI,
    "--scope",
    "openid profile email offline_access",
    "--grant-type",
    "authorization_code",
    "--grant-type",
    "refresh_token",
)


def assert_code_flow(result: dict, server: Server, client_id: str) -> None:
    """What openid-client saw of the code flow, refresh, introspection and revocation."""
    assert result["issuer"] == server.issuer
    claims = result["claims"]
    assert claims["iss"] == server.issuer
    assert claims["aud"] == client_id
    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["email"] == EMAIL
    assert result["refreshed_differs"] is True
    assert result["refreshed_userinfo_sub"] == claims["sub"]
    assert result["refreshed_claims"] is None  # no ID token on refresh (OIDC Core §12.2: MAY)
    assert result["introspection_before"]["active"] is True
    assert result["introspection_before"]["client_id"] == client_id
    assert result["introspection_after_access"] == {"active": False}
    assert result["introspection_after_refresh"] == {"active": False}
    assert result["refresh_after_revocation"] == "invalid_grant"


def wait_for_post(receiver: HostileServer) -> str:
    """The logout_token of the first POST to the receiver, within DELIVERY_SECONDS."""
    deadline = time.monotonic() + DELIVERY_SECONDS
    while not receiver.posts:
        assert time.monotonic() < deadline, "no back-channel logout was delivered"
        time.sleep(0.05)
    path, content_type, body = receiver.posts[0]
    assert path == RECEIVER_PATH
    assert content_type == "application/x-www-form-urlencoded"
    form = parse_qs(body.decode())
    assert list(form) == ["logout_token"], form
    return form["logout_token"][0]


def test_openid_client_code_flow_then_logout_front_and_back_channel(
    server: Server, receiver: HostileServer
):
    """Code + PKCE, UserInfo, refresh, introspection, revocation (client_secret_basic); then
    RP-initiated logout with ``id_token_hint``, ``post_logout_redirect_uri`` and ``state``: the
    session ends, the browser goes back with the state, and the RP's back-channel endpoint gets
    a logout token that passes §2.6's checks for this ``sub`` and ``sid``."""
    created = create_client(
        server,
        *CODE_CLIENT,
        "--post-logout-redirect-uri",
        POST_LOGOUT_REDIRECT_URI,
        "--backchannel-logout-uri",
        receiver.url(RECEIVER_PATH),
    )
    rp = RelyingParty(
        server,
        CLIENT_ID=created["client_id"],
        CLIENT_SECRET=created["client_secret"],
        REDIRECT_URI=REDIRECT_URI,
        POST_LOGOUT_REDIRECT_URI=POST_LOGOUT_REDIRECT_URI,
    )
    browser = Browser(server.issuer)
    try:
        browser.log_in()
        rp.send(browser.consent(rp.read()["authorize"]))
        logout = rp.read()
        end_session = logout["end_session"]
        assert end_session.startswith(f"{server.issuer}/oauth/logout?")
        assert receiver.posts == []
        assert browser.logged_in()
        back = browser.http.get(end_session, allow_redirects=False, timeout=10)
        assert back.status_code == 302, back.text
        assert back.headers["Location"] == (
            f"{POST_LOGOUT_REDIRECT_URI}?state={logout['logout_state']}"
        )
        assert not browser.logged_in()
        rp.send(wait_for_post(receiver))
        result = rp.result()
    finally:
        rp.close()
    assert_code_flow(result, server, created["client_id"])
    assert result["logout_token"]["typ"] == "logout+jwt"
    assert result["logout_token"]["sid"] == result["claims"]["sid"]
    assert len(receiver.posts) == 1


def test_openid_client_private_key_jwt(server: Server, tmp_path: Path):
    """The same code flow with the client authenticating by ``private_key_jwt`` (RFC 7523):
    openid-client's ``PrivateKeyJwt`` signs each token, introspection and revocation request
    with the key whose public half was registered for the client."""
    key = RSAKey.generate_key(2048, {"kid": "openid-client-rp"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    created = create_client(
        server, *CODE_CLIENT, "--auth-method", "private_key_jwt", "--jwks", str(jwks)
    )
    assert "client_secret" not in created
    rp = RelyingParty(
        server,
        CLIENT_ID=created["client_id"],
        AUTH="private_key_jwt",
        PRIVATE_JWK=json.dumps(key.as_dict(private=True)),
        REDIRECT_URI=REDIRECT_URI,
    )
    browser = Browser(server.issuer)
    try:
        browser.log_in()
        rp.send(browser.consent(rp.read()["authorize"]))
        result = rp.result()
    finally:
        rp.close()
    assert_code_flow(result, server, created["client_id"])
    assert result["end_session"].startswith(f"{server.issuer}/oauth/logout?id_token_hint=")


def test_openid_client_device_flow(server: Server):
    """RFC 8628 as openid-client does it (``initiateDeviceAuthorization``,
    ``pollDeviceAuthorizationGrant`` at the server's interval): a public client, the person
    approving the user code in a signed-in browser; then UserInfo with the access token."""
    created = create_client(
        server,
        "--public",
        "--scope",
        "openid profile offline_access",
        "--grant-type",
        policy.DEVICE_CODE_GRANT,
        "--grant-type",
        "refresh_token",
    )
    rp = RelyingParty(server, CLIENT_ID=created["client_id"], AUTH="none", MODE="device")
    browser = Browser(server.issuer)
    try:
        started = rp.read()
        assert started["interval"] == policy.DEVICE_POLL_INTERVAL
        browser.log_in()
        browser.approve_device(started["verification_uri"], started["user_code"])
        result = rp.result()
    finally:
        rp.close()
    # The device grant issues no ID token (RFC 8628 defines none; SPEC's token response for it
    # is the access and refresh token), so UserInfo is how the device learns who allowed it.
    assert result["claims"] is None
    assert result["userinfo"]["sub"]
    assert result["userinfo"]["name"] == NAME
    assert set(result["scope"].split()) == {"openid", "profile", "offline_access"}
    assert result["has_refresh_token"] is True
