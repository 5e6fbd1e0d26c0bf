"""In the browser, with the mail a real SMTP server received: sign up → follow the mail's link
→ signed in and verified; forgot password → mail → new password → every other session gone;
the security page; and axe-core on each new page."""

from __future__ import annotations

import re
import time

from .conftest import require_browser_tools

require_browser_tools()

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.mail_server import Inbox, links_in  # noqa: E402

from .conftest import PASSWORD, Stack, new_email  # noqa: E402
from .helpers import check_page, log_in  # noqa: E402

NEW_PASSWORD = "a fresh browser passphrase"


def mail_to(inbox: Inbox, address: str, subject: str, timeout: float = 15) -> str:
    """The one link of the newest mail to ``address`` with ``subject`` (sent in the
    background by the server's outbox thread, within its interval)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in inbox.to(address) if m["Subject"] == subject]
        if found:
            [link] = links_in(found[-1])
            return link
        time.sleep(0.1)
    raise AssertionError(
        f"no mail {subject!r} to {address}: {[m['Subject'] for m in inbox.messages]}"
    )


def test_sign_up_verify_forget_and_reset(page: Page, browser: Browser, stack: Stack, screenshots):
    email = new_email("mail-walk")
    page.goto(f"{stack.issuer}/signup")
    page.get_by_label("Name").fill("Mae Mail")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("create account", re.I)).click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("status")).to_contain_text("We sent a link")

    link = mail_to(stack.inbox, email, "Confirm your email address")
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/account/apps"))
    expect(page.get_by_role("status")).to_contain_text("verified")

    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"\(verified "))).to_be_visible()
    check_page(page, "server-account-security")
    # A wrong current password: the form says so, next to the field.
    page.locator("#current_password").fill("not my password at all")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    check_page(page, "server-account-security-error")

    # Forgot password, in another browser; this one stays signed in until the reset.
    other = browser.new_context(bypass_csp=True)
    stranger = other.new_page()
    stranger.goto(f"{stack.issuer}/login")
    stranger.get_by_role("link", name="Forgot your password?").click()
    check_page(stranger, "server-forgot")
    stranger.get_by_label("Email").fill(email)
    stranger.get_by_role("button", name="Mail me a link").click()
    expect(stranger.get_by_role("heading", name="Check your mail")).to_be_visible()
    check_page(stranger, "server-forgot-sent")

    reset = mail_to(stack.inbox, email, "Choose a new password")
    stranger.goto(reset)
    check_page(stranger, "server-reset")
    stranger.get_by_label("New password").fill(NEW_PASSWORD)
    stranger.get_by_role("button", name="Set the new password").click()
    expect(stranger).to_have_url(re.compile(r"/login"))
    mail_to(stack.inbox, email, "Your password was changed")

    # The first browser's session ended with the reset.
    page.goto(f"{stack.issuer}/account/security")
    expect(page).to_have_url(re.compile(r"/login"))
    # The link works once.
    stranger.goto(reset)
    expect(stranger.get_by_role("alert")).to_contain_text("used already")
    check_page(stranger, "server-link-refused")
    other.close()

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name=re.compile("^log in$", re.I)).click()
    expect(page).to_have_url(re.compile(r"/account/security"))  # where the login was asked


def test_the_old_password_no_longer_logs_in(page: Page, stack: Stack, screenshots):
    email = new_email("mail-old")
    page.goto(f"{stack.issuer}/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("create account", re.I)).click()
    page.goto(f"{stack.issuer}/password/forgot")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Mail me a link").click()
    page.goto(mail_to(stack.inbox, email, "Choose a new password"))
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    log_in(page, email)  # with the old one
    expect(page.get_by_role("alert")).to_contain_text("Incorrect email or password")
