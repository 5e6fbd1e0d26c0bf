"""The device page (RFC 8628) and the form_post response mode in a real browser, with axe."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import requests

from .conftest import require_browser_tools

require_browser_tools()

from playwright.sync_api import Page, Route, expect  # noqa: E402

from tests.processes import free_port  # noqa: E402

from .conftest import Stack, new_email  # noqa: E402
from .helpers import check_page, sign_up  # noqa: E402

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def test_device_page_binds_the_code_and_passes_axe(page: Page, stack: Stack, screenshots):
    registered = json.loads(
        stack.flask(
            "clients",
            "create",
            "--name",
            "Browser TV",
            "--scope",
            "openid events:read",
            "--grant-type",
            DEVICE_CODE_GRANT,
            "--public",
            "--json",
        )  # fmt: skip
    )
    client_id = registered["client_id"]
    started = requests.post(
        f"{stack.issuer}/oauth/device_authorization",
        data={"client_id": client_id, "scope": "openid events:read"},
        timeout=10,
    ).json()
    sign_up(page, stack.issuer, new_email("device"))
    page.goto(started["verification_uri_complete"])
    expect(page.get_by_label("Code shown on your device")).to_have_value(started["user_code"])
    check_page(page, "device-code")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name=re.compile("Browser TV wants"))).to_be_visible()
    check_page(page, "device-consent")
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", name="Device connected")).to_be_visible()
    check_page(page, "device-done")
    tokens = requests.post(
        f"{stack.issuer}/oauth/token",
        data={
            "grant_type": DEVICE_CODE_GRANT,
            "device_code": started["device_code"],
            "client_id": client_id,
        },
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid events:read"


class _Receiver(BaseHTTPRequestHandler):
    """The app's redirect URI: keeps what was posted to it."""

    posted: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.posted.append(parse_qs(self.rfile.read(length).decode()))
        body = b"<!doctype html><html lang=en><title>App</title><h1>Signed in</h1></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_form_post_submits_itself_and_works_without_javascript(
    page: Page, stack: Stack, screenshots
):
    port = free_port()
    receiver = ThreadingHTTPServer(("127.0.0.1", port), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    redirect_uri = f"http://127.0.0.1:{port}/cb"
    try:
        registered = json.loads(
            stack.flask(
                "clients",
                "create",
                "--name",
                "Form Post App",
                "--scope",
                "openid profile",
                "--redirect-uri",
                redirect_uri,
                "--json",
            )  # fmt: skip
        )
        sign_up(page, stack.issuer, new_email("formpost"))
        authorize = (
            f"{stack.issuer}/oauth/authorize?response_type=code"
            f"&client_id={registered['client_id']}&redirect_uri={redirect_uri}"
            "&scope=openid%20profile&state=fp-1&response_mode=form_post"
        )
        # First without the script: the page must stand on its own (axe, a button to press).
        blocked: list[str] = []

        def block(route: Route) -> None:
            blocked.append(route.request.url)
            route.abort()

        page.route("**/static/form_post.js", block)
        page.goto(authorize)
        page.get_by_role("button", name="Allow").click()
        expect(
            page.get_by_role("heading", name=re.compile("Back to Form Post App"))
        ).to_be_visible()
        assert blocked
        check_page(page, "form-post")
        page.get_by_role("button", name=re.compile("Continue to Form Post App")).click()
        expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
        first = _Receiver.posted[-1]
        assert first["state"] == ["fp-1"] and "code" in first and first["iss"] == [stack.issuer]
        # Then with it: consent was given, so the page posts at once.
        page.unroute("**/static/form_post.js")
        page.goto(authorize.replace("fp-1", "fp-2"))
        expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
        assert _Receiver.posted[-1]["state"] == ["fp-2"]
    finally:
        receiver.shutdown()
        receiver.server_close()
