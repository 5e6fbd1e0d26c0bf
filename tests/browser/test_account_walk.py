"""Issue 16's whole walk in the browser, with mail read the way a newcomer reads it: on the page
of the development mail catcher (``scripts/mail_catcher.py``, what ``make serve`` starts), which
receives what the server's outbox thread sends over SMTP.

Sign up → the verification mail on the catcher's page → its link (signed in, verified) → set up
an authenticator app (the code computed from the ``otpauth://`` URI the page shows) → log out →
password + code → forgot password → the mail on the catcher → a new password → new password +
code → delete the account (the password again) → logging in fails. axe-core on the catcher's
page too.

The server here is one of its own (own database, own SMTP URL): the session's server delivers
to the test inbox, and whichever server claims an outbox row sends it, so they cannot share one.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from .conftest import require_browser_tools

require_browser_tools()

import pyotp  # noqa: E402
from playwright.sync_api import Locator, Page, expect  # noqa: E402

from tests.databases import drop_postgres_schema, make_postgres_schema  # noqa: E402
from tests.processes import free_ports  # noqa: E402

from .conftest import PASSWORD, ROOT, Service, Stack, new_email  # noqa: E402
from .helpers import check_page  # noqa: E402

NEW_PASSWORD = "a brand new walk passphrase"
MAIL_SECONDS = 20  # the outbox thread sends within its interval (0.2 s here); retries back off


@dataclass
class Walk:
    server: Service
    catcher: str  # the mail catcher's page


def _database_url(stack: Stack) -> tuple[str, tuple[str, str] | None]:
    url = stack.env["AUTHSERVER_DATABASE_URL"]
    if not url.startswith("postgresql"):
        return f"sqlite:///{stack.workdir / 'walk.sqlite3'}", None
    base = url.split("?", 1)[0]
    schema = make_postgres_schema(base)
    return f"{base}?options={quote(f'-csearch_path={schema}')}", (base, schema)


@pytest.fixture(scope="module")
def walk(stack: Stack) -> Iterator[Walk]:
    smtp_port, web_port, auth_port = free_ports(3)
    catcher = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, "-m", "scripts.mail_catcher"]
        + ["--smtp", f"127.0.0.1:{smtp_port}", "--web", f"127.0.0.1:{web_port}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    database_url, schema = _database_url(stack)
    server = None
    try:
        assert catcher.stdout is not None
        announced = catcher.stdout.readline()  # printed once both ports listen
        assert f"http://127.0.0.1:{web_port}/" in announced, announced
        env = {
            **stack.env,
            "AUTHSERVER_DATABASE_URL": database_url,
            "AUTHSERVER_ISSUER": f"http://127.0.0.1:{auth_port}",
            "AUTHSERVER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        }
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "authserver", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        server = stack.gunicorn("walk server", "wsgi:auth_app", auth_port, env, "/healthz")
        yield Walk(server, f"http://127.0.0.1:{web_port}/")
    finally:
        if server is not None:
            server.stop()
        catcher.terminate()
        catcher.wait(timeout=10)
        if catcher.stdout is not None:
            catcher.stdout.close()
        if schema is not None:
            drop_postgres_schema(*schema)


def mail_on_catcher(page: Page, walk: Walk, to: str, subject: str) -> Locator:
    """The catcher's page, reloaded until it lists a mail to ``to`` with ``subject`` (the
    newest such first)."""
    deadline = time.monotonic() + MAIL_SECONDS
    while True:
        page.goto(walk.catcher)
        mail = (
            page.locator("article")
            .filter(has=page.get_by_role("heading", name=subject, exact=True))
            .filter(has_text=f"To {to}")
        )
        if mail.count():
            return mail.first
        assert time.monotonic() < deadline, (
            f"no mail {subject!r} to {to}:\n{page.inner_text('main')}"
        )
        time.sleep(0.2)


def follow_mail(page: Page, walk: Walk, to: str, subject: str) -> None:
    """On the catcher's page, click the link of the newest mail to ``to`` with ``subject``."""
    [link] = mail_on_catcher(page, walk, to, subject).get_by_role("link").all()
    assert (link.get_attribute("href") or "").startswith(walk.server.url + "/")
    link.click()


class Authenticator:
    """The person's authenticator app, fed the ``otpauth://`` URI the setup page shows.

    The server takes a code for the current 30-second step or one either side, once, and only
    for a step later than the last one it took: each code here is for the next step not yet
    used that the server will take (waiting for the clock when the last one used is ahead)."""

    def __init__(self, uri: str) -> None:
        self.totp = pyotp.parse_uri(uri)
        assert isinstance(self.totp, pyotp.TOTP) and self.totp.interval == 30
        self.last_step: int | None = None

    def code(self) -> str:
        while True:
            now_step = int(time.time()) // 30
            step = now_step if self.last_step is None else max(self.last_step + 1, now_step)
            if step <= now_step + 1:
                break
            time.sleep(1)
        self.last_step = step
        return self.totp.generate_otp(step)


def log_in(page: Page, server: str, email: str, password: str) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("^log in$", re.I)).click()


def log_in_with_code(
    page: Page, server: str, email: str, password: str, app: Authenticator
) -> None:
    log_in(page, server, email, password)
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_label("Code", exact=True).fill(app.code())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Connected apps")).to_be_visible()


def log_out(page: Page, server: str) -> None:
    page.goto(f"{server}/account/apps")
    page.get_by_role("button", name="Log out", exact=True).click()


def test_sign_up_verify_second_factor_reset_and_delete_with_the_mail_catcher(
    page: Page, walk: Walk, screenshots
) -> None:
    server = walk.server.url
    email = new_email("walk")

    # Sign up: the page says a link is on its way; the catcher shows the mail.
    page.goto(f"{server}/signup")
    page.get_by_label("Name").fill("Wanda Walk")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("create account", re.I)).click()
    expect(page.get_by_role("status")).to_contain_text("We sent a link")
    follow_mail(page, walk, email, "Confirm your email address")
    expect(page).to_have_url(re.compile(r"/account/apps"))
    expect(page.get_by_role("status")).to_contain_text("verified")
    page.goto(walk.catcher)
    check_page(page, "mail-catcher")

    # An authenticator app, from the setup link the page shows.
    page.goto(f"{server}/account/security")
    expect(page.get_by_text(re.compile(r"\(verified "))).to_be_visible()
    page.get_by_role("link", name="Set up an authenticator app").click()
    page.get_by_text("The whole setup link").click()
    app = Authenticator(page.locator("#totp-uri").inner_text().strip())
    page.get_by_label("Code", exact=True).fill(app.code())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your authenticator app is set up")).to_be_visible()

    # Log out; the password alone is not enough any more, password + code is.
    log_out(page, server)
    log_in_with_code(page, server, email, PASSWORD, app)

    # Forgot password (logged out), through the catcher.
    log_out(page, server)
    page.goto(f"{server}/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    follow_mail(page, walk, email, "Choose a new password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page).to_have_url(re.compile(r"/login"))

    # The old password no longer works; the new one does, still with the code.
    log_in(page, server, email, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Incorrect email or password")
    log_in_with_code(page, server, email, NEW_PASSWORD, app)

    # Delete the account: a wrong password keeps it; the right one deletes it.
    page.goto(f"{server}/account/security")
    page.locator("#delete_password").fill(PASSWORD)  # the old one
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    page.locator("#delete_password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("status")).to_contain_text("Your account is deleted")
    mail_on_catcher(page, walk, email, "Your account was deleted")

    # Logging in fails, with the password or the code.
    log_in(page, server, email, NEW_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Incorrect email or password")
    expect(page).to_have_url(re.compile(r"/login"))
