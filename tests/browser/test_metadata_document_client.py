"""A client named by its Client ID Metadata Document's URL, in a real browser
(draft-ietf-oauth-client-id-metadata-document): no registration anywhere, the document served over
plain http from loopback by a small server in this test (the browser stack's server runs with
``CIMD_ALLOW_LOOPBACK``), its redirect URI a loopback callback on the same server — a desktop
app's shape.

Log in → consent names the document's host and warns that any local program could claim the
name, shows the app's name as text (never as markup) and passes axe → Allow → the callback gets a
code → the code, with its PKCE verifier, is exchanged and refreshed over HTTP → Connected apps
lists the app with its host, passes axe, and takes it back with the keyboard only → its refresh
token is refused and its access token no longer opens the API.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from .conftest import require_browser_tools

require_browser_tools()

from playwright.sync_api import Page, expect  # noqa: E402

from .conftest import Stack, new_email  # noqa: E402
from .helpers import check_page, log_in, log_out_of_server, sign_up, tab_to  # noqa: E402

#: Markup in the app's own name: the pages must show these characters, not obey them.
APP_NAME = "Local <b>Agent</b>"
SCOPE = "openid profile offline_access events:read"
CALLBACK_PAGE = b"<!doctype html><html lang=en><title>App</title><h1>Back in the app</h1></html>"


class _AppServer:
    """The app's side on loopback: its metadata document, and the page its callback lands on
    (which keeps every query it was sent)."""

    def __init__(self) -> None:
        self.document: dict = {}
        self.document_fetches = 0
        self.callbacks: list[dict[str, list[str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/app/client.json":
                    owner.document_fetches += 1
                    self._send(200, "application/json", json.dumps(owner.document).encode())
                elif path == "/callback":
                    owner.callbacks.append(parse_qs(query))
                    self._send(200, "text/html", CALLBACK_PAGE)
                else:
                    self._send(404, "text/plain", b"not here")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=3600")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        port = self.server.server_address[1]
        self.host = f"127.0.0.1:{port}"
        self.client_id = f"http://{self.host}/app/client.json"
        self.redirect_uri = f"http://{self.host}/callback"
        self.document = {
            "client_id": self.client_id,
            "client_name": APP_NAME,
            "redirect_uris": [self.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": SCOPE,
        }


@pytest.fixture
def app_server() -> Iterator[_AppServer]:
    app = _AppServer()
    threading.Thread(target=app.server.serve_forever, daemon=True).start()
    try:
        yield app
    finally:
        app.server.shutdown()
        app.server.server_close()


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _token(stack: Stack, app: _AppServer, **fields: str) -> requests.Response:
    return requests.post(
        f"{stack.issuer}/oauth/token", data={"client_id": app.client_id, **fields}, timeout=10
    )


def test_metadata_document_client_from_consent_to_keyboard_revocation(
    page: Page, stack: Stack, app_server: _AppServer, screenshots
):
    email = new_email("cimd")
    sign_up(page, stack.issuer, email)
    log_out_of_server(page, stack.issuer)
    verifier, challenge = _pkce_pair()
    authorize = f"{stack.issuer}/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": app_server.client_id,
            "redirect_uri": app_server.redirect_uri,
            "scope": SCOPE,
            "state": "cimd-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    page.goto(authorize)
    log_in(page, email)

    # The consent page: where the description came from, and that any local program may claim it.
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"{APP_NAME} wants to access your account")
    expect(heading.locator("b")).to_have_count(0)
    assert page.locator("body b, body strong").filter(has_text=re.compile("^Agent$")).count() == 0
    document_note = page.locator(".document-host")
    expect(document_note).to_be_visible()
    expect(document_note).to_contain_text(f"From {app_server.host}.")
    expect(document_note.locator(".client-id")).to_have_text(app_server.client_id)
    local_only = page.get_by_role("alert").filter(has_text="Any program on your computer")
    expect(local_only).to_be_visible()
    expect(local_only).to_contain_text(f"{APP_NAME} sends your answer only to this computer")
    assert app_server.document_fetches == 1
    check_page(page, "cimd-consent")

    with page.expect_request(re.compile(re.escape(app_server.redirect_uri) + r"\?")) as sent:
        page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", name="Back in the app")).to_be_visible()
    landed = parse_qs(urlsplit(sent.value.url).query)
    assert landed["state"] == ["cimd-1"] and landed["iss"] == [stack.issuer]
    assert app_server.callbacks[-1] == landed
    (code,) = landed["code"]

    tokens = _token(
        stack,
        app_server,
        grant_type="authorization_code",
        code=code,
        redirect_uri=app_server.redirect_uri,
        code_verifier=verifier,
    )
    assert tokens.status_code == 200, tokens.text
    assert set(tokens.json()["scope"].split()) == set(SCOPE.split())
    # One refresh before revoking, so the refusal after it is the revocation's doing.
    refreshed = _token(
        stack, app_server, grant_type="refresh_token", refresh_token=tokens.json()["refresh_token"]
    )
    assert refreshed.status_code == 200, refreshed.text
    refresh_token = refreshed.json()["refresh_token"]
    bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert requests.get(f"{stack.api}/api/me", headers=bearer, timeout=10).status_code == 200

    # Connected apps: listed with its host; removed with Tab and Enter only.
    page.goto(f"{stack.issuer}/account/apps")
    card = page.locator("li.card").filter(
        has=page.get_by_role("heading", name=APP_NAME, exact=True)
    )
    expect(card).to_have_count(1)
    expect(card.locator(".document-host")).to_contain_text(
        f"Described by a document from {app_server.host}, not registered here."
    )
    expect(card.get_by_role("heading").locator("b")).to_have_count(0)
    check_page(page, "cimd-connected-apps")
    # Each card's buttons name their app to a screen reader: several cards, no two alike.
    expect(card.get_by_role("button", name=f"Remove access {APP_NAME}", exact=True)).to_have_count(
        1
    )
    tab_to(
        page,
        f'form[action$="/account/apps/revoke"]:has(input[value="{app_server.client_id}"]) button',
    )
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/account/apps$"))
    expect(page.get_by_text(f"{APP_NAME} no longer has access to your account.")).to_be_visible()
    expect(page.locator("li.card").filter(has_text=app_server.host)).to_have_count(0)
    expect(page.get_by_role("heading", name=APP_NAME, exact=True)).to_have_count(0)
    check_page(page, "cimd-connected-apps-revoked")

    after = _token(stack, app_server, grant_type="refresh_token", refresh_token=refresh_token)
    assert after.status_code == 400, after.text
    assert after.json()["error"] == "invalid_grant"
    assert requests.get(f"{stack.api}/api/me", headers=bearer, timeout=10).status_code == 401
