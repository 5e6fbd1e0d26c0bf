"""A single-page app on another origin, with oidc-client-ts: sign in (code + PKCE, the token
exchange from the browser), UserInfo and the resource API from the browser, sign out (with
revocation). Every cross-origin call depends on the CORS answers of both servers."""

from __future__ import annotations

import json
import re

from .conftest import require_browser_tools

require_browser_tools()

from playwright.sync_api import Page, expect  # noqa: E402

from .conftest import Stack, _SpaHandler, new_email  # noqa: E402
from .helpers import check_page, log_in, log_out_of_server, register_app, sign_up  # noqa: E402


def test_single_page_app_signs_in_calls_apis_and_signs_out(page: Page, stack: Stack, screenshots):
    email = new_email("spa")
    sign_up(page, stack.issuer, email, name="Sam Spa")
    client_id, secret = register_app(
        page,
        stack.issuer,
        "Calendar SPA",
        f"{stack.spa}/callback.html",
        f"{stack.spa}/",
        ["openid", "profile", "email", "events:read"],
        public=True,
    )
    assert secret is None
    _SpaHandler.config["client_id"] = client_id
    log_out_of_server(page, stack.issuer)
    cross_origin_failures: list[str] = []
    # The app's own calls (fetch/XHR) must all go through CORS; a page navigation the browser
    # abandons for the next one (a redirect racing a click) is not a failed call.
    page.on(
        "requestfailed",
        lambda r: (
            cross_origin_failures.append(f"{r.url}: {r.failure}")
            if r.resource_type in ("fetch", "xhr")
            else None
        ),
    )

    page.goto(stack.spa + "/")
    page.get_by_role("button", name="Sign in with Authserver").click()
    log_in(page, email)
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(stack.spa + "/")
    expect(page.locator("#status")).to_have_text(f"Signed in as {email}")

    page.get_by_role("button", name="Call UserInfo and the API").click()
    expect(page.locator("#status")).to_have_text("Called")
    userinfo = json.loads(page.locator("#userinfo").inner_text())
    me = json.loads(page.locator("#me").inner_text())
    assert userinfo["status"] == 200 and userinfo["body"]["email"] == email
    assert me["status"] == 200 and me["body"]["sub"] == userinfo["body"]["sub"]
    check_page(page, "spa-signed-in")

    with page.expect_request(re.compile(re.escape(stack.issuer) + "/oauth/revoke")):
        page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(stack.spa + "/")
    expect(page.locator("#status")).to_have_text("Signed out")
    assert cross_origin_failures == []
