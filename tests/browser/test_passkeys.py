"""Passkeys and the authenticator app in a real browser, with Chromium's virtual authenticator
(the DevTools protocol's WebAuthn domain, through Playwright's CDP session): enrol a passkey
on ``http://localhost:<port>`` (the issuer is a loopback IP, which no browser takes as a
relying-party ID: SPEC "Mail and accounts"), rename it, sign in with it alone through a
client's authorization request; set up an authenticator app and pass the code step. axe-core on
every page these reach."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs, urlsplit

from .conftest import require_browser_tools

require_browser_tools()

import pyotp  # noqa: E402
import requests  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

from authserver.policy import ACR_MFA  # noqa: E402

from .conftest import PASSWORD, Stack, new_email  # noqa: E402
from .helpers import check_page, register_app, sign_up  # noqa: E402

#: RFC 7636 Appendix B's verifier and its S256 challenge.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def on_localhost(stack: Stack) -> str:
    return stack.issuer.replace("127.0.0.1", "localhost")


def virtual_authenticator(page: Page) -> None:
    """A platform authenticator that keeps discoverable credentials and verifies the person."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def claims_of(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_passkey_signs_in_alone_through_an_authorization_request(
    page: Page, stack: Stack, screenshots
) -> None:
    server = on_localhost(stack)
    virtual_authenticator(page)
    email = new_email("passkey")
    sign_up(page, server, email)
    client_id, _ = register_app(
        page, server, "Passkey App", f"{stack.spa}/callback.html", f"{stack.spa}/",
        ["openid", "profile"], public=True,
    )  # fmt: skip

    page.goto(f"{server}/account/security")
    check_page(page, "server-security-no-factors")
    page.get_by_label("Name for a new passkey").fill("Test laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Passkey “Test laptop” added.")).to_be_visible()
    check_page(page, "server-security-passkey")
    page.get_by_label("Name", exact=True).fill("Work laptop")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", name="Work laptop")).to_be_visible()

    page.goto(f"{server}/account/apps")
    page.get_by_role("button", name=re.compile("^log out", re.I)).first.click()
    expect(page).to_have_url(re.compile("/login"))

    page.goto(
        f"{server}/oauth/authorize?response_type=code&client_id={client_id}"
        f"&redirect_uri={stack.spa}/callback.html&scope=openid%20profile&state=pk"
        f"&code_challenge={CHALLENGE}&code_challenge_method=S256&nonce=n-1"
        f"&acr_values={ACR_MFA}"
    )
    expect(page).to_have_url(re.compile("/login"))
    button = page.get_by_role("button", name="Sign in with a passkey")
    expect(button).to_be_visible()
    check_page(page, "server-login-with-passkey")
    button.click()
    expect(page.get_by_role("heading", name=re.compile("Passkey App wants"))).to_be_visible()
    with page.expect_request(re.compile(re.escape(stack.spa) + "/callback.html")) as sent:
        page.get_by_role("button", name=re.compile("^allow", re.I)).click()
    query = parse_qs(urlsplit(sent.value.url).query)
    assert query["state"] == ["pk"]
    token = requests.post(
        f"{stack.issuer}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": f"{stack.spa}/callback.html",
            "client_id": client_id,
            "code_verifier": VERIFIER,
        },
        timeout=10,
    ).json()
    claims = claims_of(token["id_token"])
    assert "pwd" not in claims["amr"]
    assert {"user", "mfa"} <= set(claims["amr"]) and ({"hwk", "swk"} & set(claims["amr"]))
    assert claims["acr"] == ACR_MFA


def test_a_passkey_as_the_second_step_after_a_password(page: Page, stack: Stack) -> None:
    server = on_localhost(stack)
    virtual_authenticator(page)
    email = new_email("second")
    sign_up(page, server, email)
    page.goto(f"{server}/account/security")
    page.get_by_label("Name for a new passkey").fill("Phone")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Passkey “Phone” added.")).to_be_visible()
    page.goto(f"{server}/account/apps")
    page.get_by_role("button", name=re.compile("^log out", re.I)).first.click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^log in$", re.I)).click()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    check_page(page, "server-second-factor-passkey")
    page.get_by_role("button", name="Use a passkey").click()
    expect(page.get_by_role("heading", name="Connected apps")).to_be_visible()
    page.goto(f"{server}/account/security")
    page.get_by_role("button", name="Remove passkey Phone").click()
    # The current password again first; a wrong one keeps the passkey.
    page.get_by_label("Current password").fill("not my password")
    page.get_by_role("button", name="Remove passkey", exact=True).click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    check_page(page, "server-remove-passkey-wrong-password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Remove passkey", exact=True).click()
    expect(page.get_by_text("Passkey removed.")).to_be_visible()


def test_a_passkey_nobody_registered_does_not_sign_in(page: Page, stack: Stack) -> None:
    server = on_localhost(stack)
    virtual_authenticator(page)  # a new, empty authenticator
    page.goto(f"{server}/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile("/login"))


def test_an_authenticator_app_and_the_code_step(page: Page, stack: Stack, screenshots) -> None:
    server = stack.issuer
    email = new_email("totp")
    sign_up(page, server, email)
    page.goto(f"{server}/account/security")
    page.get_by_role("link", name="Set up an authenticator app").click()
    check_page(page, "server-totp-setup")
    secret = page.locator("#totp-secret").inner_text().strip()
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    page.get_by_label("Code", exact=True).fill(wrong)
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    check_page(page, "server-totp-setup-wrong-code")
    used = pyotp.TOTP(secret).now()
    page.get_by_label("Code", exact=True).fill(used)
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your authenticator app is set up")).to_be_visible()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    check_page(page, "server-recovery-codes")

    page.goto(f"{server}/account/apps")
    page.get_by_role("button", name=re.compile("^log out", re.I)).first.click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^log in$", re.I)).click()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    check_page(page, "server-second-factor")
    # A recovery code: the authenticator's code may still be the one just used.
    page.get_by_label("Code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Connected apps")).to_be_visible()

    # New recovery codes and removing the app: the password again, on a page of its own.
    page.goto(f"{server}/account/security")
    page.get_by_role("button", name="Make new recovery codes").click()
    check_page(page, "server-new-recovery-codes-password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Make new recovery codes").click()
    expect(page.get_by_role("heading", name="New recovery codes")).to_be_visible()
    assert not set(page.locator(".recovery-codes code").all_inner_texts()) & set(codes)
    page.goto(f"{server}/account/security")
    page.get_by_role("button", name="Remove authenticator app").click()
    page.get_by_label("Current password").fill("not my password")
    page.get_by_role("button", name="Remove authenticator app").click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    check_page(page, "server-remove-totp-wrong-password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Remove authenticator app").click()
    expect(page.get_by_text("Your authenticator app was removed.")).to_be_visible()
    expect(page.get_by_role("link", name="Set up an authenticator app")).to_be_visible()
