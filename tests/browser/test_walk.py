"""The whole walk, as a person, in Chromium: from signing up on the server to logging out of
the demo client. Every page on the way gets axe-core and a screenshot (helpers.check_page)."""

from __future__ import annotations

import re

from .conftest import require_browser_tools

require_browser_tools()

from playwright.sync_api import Page, expect  # noqa: E402

from .conftest import Stack, new_email  # noqa: E402
from .helpers import check_page, log_in, log_out_of_server, register_app, sign_up  # noqa: E402

DEMO_SCOPES = ["openid", "profile", "email", "offline_access", "events:read", "events:write"]


def test_sign_up_register_sign_in_consent_revoke_log_out(page: Page, stack: Stack, screenshots):
    email = new_email("walk")
    # 1. A developer signs up on the server and registers the demo app in the console.
    page.goto(stack.issuer + "/")
    check_page(page, "server-home")
    sign_up(page, stack.issuer, email)
    client_id, secret = register_app(
        page,
        stack.issuer,
        "Demo App",
        f"{stack.demo}/callback",
        f"{stack.demo}/",
        DEMO_SCOPES,
        shots="server-console",
    )
    assert secret, "the console shows a confidential client's secret once"
    page.goto(f"{stack.issuer}/console/clients/{client_id}")
    check_page(page, "server-console-show")
    expect(page.get_by_text(secret)).to_have_count(0)  # never again
    page.goto(f"{stack.issuer}/console/clients/{client_id}/edit")
    check_page(page, "server-console-edit")
    log_out_of_server(page, stack.issuer)

    # 2. The app goes live with the credentials it was given.
    stack.start_demo_client(client_id, secret)

    # 3. The same person, as a user: Sign up with Authserver, log in, consent.
    page.goto(stack.demo + "/")
    check_page(page, "demo-home")
    page.get_by_role("button", name="Sign up with Authserver").click()
    check_page(page, "server-login")
    log_in(page, email)
    expect(page.get_by_role("heading", name=re.compile("Demo App wants to access"))).to_be_visible()
    check_page(page, "server-consent")
    page.get_by_role("checkbox", name=re.compile("Create, change and delete", re.I)).uncheck()
    page.get_by_role("button", name="Allow").click()

    # 4. The dashboard: profile and calendar, but nothing to add an event with.
    expect(page).to_have_url(re.compile(re.escape(stack.demo) + "/dashboard"))
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()
    calendar = page.get_by_role("region", name="Your calendar")
    expect(calendar.get_by_text(re.compile("calendar is empty", re.I))).to_be_visible()
    expect(page.get_by_role("button", name="Add to my calendar")).to_have_count(0)
    expect(
        page.get_by_text(re.compile("did not allow this app to change your calendar"))
    ).to_be_visible()
    check_page(page, "demo-dashboard")

    # 5. Connected apps at the server lists the app with what it may do.
    page.goto(f"{stack.issuer}/account/apps")
    card = page.locator("li.card", has=page.get_by_role("heading", name="Demo App"))
    expect(card).to_be_visible()
    expect(card.get_by_text(re.compile("see your calendar", re.I))).to_be_visible()
    expect(card.get_by_text(re.compile("Create, change and delete", re.I))).to_have_count(0)
    check_page(page, "server-connected-apps")

    # 6. Take back one permission: seeing the calendar. The app's access token stops working at
    #    once; its refresh token now gives only what is left, and the dashboard says so.
    card.get_by_role("button", name=re.compile("Take back See your calendar events")).click()
    expect(page.get_by_text(re.compile("no longer has this permission"))).to_be_visible()
    page.goto(stack.demo + "/dashboard")
    expect(
        page.get_by_text(re.compile("did not allow this app to see your calendar"))
    ).to_be_visible()
    check_page(page, "demo-dashboard-without-calendar")

    # 7. Log out of the app, which logs out of the server too (RP-initiated logout).
    page.get_by_role("button", name=re.compile("log out", re.I)).click()
    expect(page).to_have_url(re.compile(re.escape(stack.demo) + "/"))
    expect(page.get_by_role("button", name="Sign up with Authserver")).to_be_visible()
    page.goto(f"{stack.issuer}/account/apps")
    expect(page).to_have_url(re.compile(r"/login"))  # logged out of the server too

    # 8. Log in on two browsers, then log out everywhere from one: both are logged out.
    log_in(page, email)
    other = page.context.browser.new_context()
    other_page = other.new_page()
    other_page.goto(f"{stack.issuer}/login")
    log_in(other_page, email)
    expect(other_page.get_by_role("heading", name="Connected apps")).to_be_visible()
    page.goto(f"{stack.issuer}/account/apps")
    page.get_by_label(re.compile("Log out on every device")).check()
    page.get_by_role("button", name=re.compile("^log out$", re.I)).click()
    other_page.goto(f"{stack.issuer}/account/apps")
    expect(other_page).to_have_url(re.compile(r"/login"))
    other.close()
