"""Keyboard-only login and consent, and axe-core on the server pages the walk does not reach."""

from __future__ import annotations

import re

from .conftest import require_browser_tools

require_browser_tools()

from playwright.sync_api import Page, expect  # noqa: E402

from .conftest import PASSWORD, Stack, new_email  # noqa: E402
from .helpers import check_page, log_out_of_server, register_app, sign_up, tab_to  # noqa: E402


def test_login_and_consent_with_the_keyboard_only(page: Page, stack: Stack, screenshots):
    email = new_email("keys")
    sign_up(page, stack.issuer, email)
    client_id, _ = register_app(
        page, stack.issuer, "Keyboard App", f"{stack.spa}/callback.html", f"{stack.spa}/",
        ["openid", "profile", "events:read"], public=True,
    )  # fmt: skip
    log_out_of_server(page, stack.issuer)
    page.goto(
        f"{stack.issuer}/oauth/authorize?response_type=code&client_id={client_id}"
        f"&redirect_uri={stack.spa}/callback.html&scope=openid%20profile%20events%3Aread"
        "&state=kb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256"
    )
    expect(page).to_have_url(re.compile("/login"))
    tab_to(page, 'input[name="email"]')
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name=re.compile("Keyboard App wants"))).to_be_visible()
    calendar = page.get_by_role("checkbox", name=re.compile("see your calendar", re.I))
    tab_to(page, 'input[name="scope"][value="events:read"]')
    page.keyboard.press("Space")
    expect(calendar).not_to_be_checked()
    tab_to(page, 'button[value="allow"]')
    with page.expect_request(re.compile(re.escape(stack.spa) + "/callback.html")) as sent:
        page.keyboard.press("Enter")
    assert "code=" in sent.value.url and "state=kb" in sent.value.url


def test_other_server_pages_pass_axe(page: Page, stack: Stack, screenshots):
    page.goto(f"{stack.issuer}/login")
    check_page(page, "server-login-empty")
    page.goto(f"{stack.issuer}/oauth/authorize?client_id=nobody&response_type=code")
    expect(page.get_by_role("heading", name="Unknown application")).to_be_visible()
    check_page(page, "server-error-unknown-app")
    page.goto(f"{stack.issuer}/no-such-page")
    check_page(page, "server-error-404")
    page.goto(f"{stack.issuer}/oauth/logout")
    check_page(page, "server-logged-out")
    page.goto(f"{stack.issuer}/login")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name=re.compile("^log in$", re.I)).click()
    check_page(page, "server-login-failed")
    email = new_email("pages")
    sign_up(page, stack.issuer, email)
    check_page(page, "server-connected-apps-empty")


def test_resource_api_docs_page_is_readable_and_accessible(page: Page, stack: Stack, screenshots):
    page.goto(f"{stack.api}/docs")
    one_event = page.get_by_role("heading", name="GET /api/events/{event_id}", exact=True)
    expect(one_event).to_be_visible()
    page.get_by_role("link", name="POST /api/events").first.click()
    expect(page).to_have_url(re.compile("#create_event$"))
    check_page(page, "api-docs")


def test_developer_hints_and_the_redirect_mismatch_page_are_accessible(
    page: Page, stack: Stack, screenshots
):
    sign_up(page, stack.issuer, new_email("hints"))
    client_id, _ = register_app(
        page, stack.issuer, "Hinted App", f"{stack.spa}/callback.html", f"{stack.spa}/",
        ["openid", "profile"],  # the refresh_token grant without offline_access
    )  # fmt: skip
    page.goto(f"{stack.issuer}/console/clients/{client_id}")
    expect(page.get_by_role("heading", name="Hints")).to_be_visible()
    check_page(page, "console-hints")
    page.goto(
        f"{stack.issuer}/oauth/authorize?response_type=code&client_id={client_id}"
        "&redirect_uri=https%3A%2F%2Ftypo.example%2Fcb&scope=openid&state=x"
    )
    expect(page.get_by_role("heading", name="For the app's developer")).to_be_visible()
    expect(page.get_by_text("https://typo.example/cb", exact=True)).to_be_visible()
    check_page(page, "redirect-mismatch")
