"""What a person does in the browser, and the checks every page gets (axe, a screenshot)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, SPA_DIR, screenshots_dir

_AXE = SPA_DIR / "node_modules" / "axe-core" / "axe.min.js"
#: axe-core impact levels that fail a page.
BLOCKING = ("serious", "critical")


def check_page(page: Page, name: str) -> None:
    """axe-core on the page as it is now (no serious or critical violation), and a screenshot."""
    page.wait_for_load_state("load")
    _screenshot(page, screenshots_dir() / f"{name}.png")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(_AXE))
    results = page.evaluate("async () => await window.axe.run(document)")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
        for v in results["violations"]
        if v["impact"] in BLOCKING
    ]
    assert bad == [], f"{name} ({page.url}) has accessibility violations:\n" + "\n".join(bad)


def _screenshot(page: Page, path: Path, tries: int = 3) -> None:
    """A full-page screenshot. Chromium sometimes answers "Unable to capture screenshot" while
    the page it just navigated to is not painted yet (seen on a busy two-core machine): that
    is retried after the page settles, not reported as a failure of the page."""
    for attempt in range(tries):
        try:
            page.screenshot(path=str(path), full_page=True)
            return
        except PlaywrightError as error:
            if "Unable to capture screenshot" not in str(error) or attempt == tries - 1:
                raise
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(100)


def sign_up(page: Page, issuer: str, email: str, name: str = "Ada Browser") -> None:
    page.goto(f"{issuer}/signup")
    check_page(page, "server-signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("create account", re.I)).click()
    # A new account logs in like any other (the login form remembers the address).
    log_in(page, email)
    expect(page).not_to_have_url(re.compile(r"/login"))


def log_in(page: Page, email: str) -> None:
    """On the server's login page."""
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^log in$", re.I)).click()


def register_app(
    page: Page,
    issuer: str,
    name: str,
    redirect_uri: str,
    post_logout_uri: str,
    scopes: list[str],
    public: bool = False,
    shots: str | None = None,
) -> tuple[str, str | None]:
    """In the developer console: register an application; its client id and the secret the
    page shows this once (None for a public client)."""
    page.goto(f"{issuer}/console/")
    if shots:
        check_page(page, f"{shots}-index")
    page.get_by_role("link", name=re.compile("register an application", re.I)).click()
    if shots:
        check_page(page, f"{shots}-new")
    page.get_by_label("Application name").fill(name)
    page.get_by_label(re.compile("^redirect uris", re.I)).fill(redirect_uri)
    page.get_by_label(re.compile("post-logout", re.I)).fill(post_logout_uri)
    for box in page.locator('input[name="scopes"]').all():
        box.set_checked(box.get_attribute("value") in scopes)
    for box in page.locator('input[name="grant_types"]').all():
        value = box.get_attribute("value")
        box.set_checked(value == "authorization_code" or (value == "refresh_token" and not public))
    page.locator(
        f'input[name="client_type"][value="{"public" if public else "confidential"}"]'
    ).check()
    page.get_by_role("button", name=re.compile("^register$", re.I)).click()
    client_id = page.locator("#client-id").inner_text().strip()
    secret = None
    if not public:
        secret = page.locator("#client-secret").inner_text().strip()
        expect(page.get_by_text(re.compile("only time it is shown", re.I))).to_be_visible()
    if shots:
        check_page(page, f"{shots}-created")
    return client_id, secret


def tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until ``selector`` has the focus."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {selector}")


def log_out_of_server(page: Page, issuer: str) -> None:
    page.goto(f"{issuer}/account/apps")
    page.get_by_role("button", name=re.compile("^log out$", re.I)).click()


def screenshot_path() -> Path:
    return screenshots_dir()
