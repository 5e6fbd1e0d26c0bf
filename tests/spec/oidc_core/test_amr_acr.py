"""How the person signed in, as clients learn it: ``amr`` (RFC 8176) and ``acr`` in ID tokens,
``acr_values`` asking for a second factor (OIDC Core §3.1.2.1, §2), and ``max_age`` and
``prompt=login`` with a second factor (SPEC "Mail and accounts")."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from authserver.policy import ACR_MFA, ACR_ONE_FACTOR
from tests.conftest import FakeClock
from tests.factories import ClientInfo, UserInfo
from tests.helpers import (
    assert_redirect_error,
    authorize_url,
    csrf_token,
    decode_jwt,
    exchange_code,
    get_code,
    login,
    query_of,
)


def enrol(browser: FlaskClient, clock: FakeClock) -> str:
    page = browser.get("/account/security/totp")
    secret = re.search(r'id="totp-secret" class="copyable">([A-Z2-7]+)<', page.data.decode())
    assert secret is not None
    done = browser.post(
        "/account/security/totp",
        data={"code": pyotp.TOTP(secret.group(1)).at(clock()), "csrf_token": csrf_token(page.data)},
    )
    assert done.status_code == 200
    clock.advance(30)
    return secret.group(1)


def id_token(browser: FlaskClient, app_client: ClientInfo, **params: str) -> dict:
    code, _ = get_code(browser, app_client, **params)
    body = exchange_code(browser, app_client, code).get_json()
    return decode_jwt(browser, body["id_token"])[1]


def enter_code(browser: FlaskClient, location: str, code: str) -> str:
    page = browser.get(location)
    assert page.status_code == 200 and b'name="code"' in page.data
    answer = browser.post(location, data={"code": code, "csrf_token": csrf_token(page.data)})
    assert answer.status_code == 302, answer.data
    return answer.headers["Location"]


@pytest.fixture
def person_with_totp(app: Flask, user: UserInfo, fake_clock: FakeClock) -> str:
    browser = app.test_client()
    login(browser, user.email, user.password)
    return enrol(browser, fake_clock)


def test_discovery_advertises_the_acr_values(client: FlaskClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["acr_values_supported"] == [ACR_ONE_FACTOR, ACR_MFA]
    assert {"acr", "amr"} <= set(metadata["claims_supported"])


def test_a_password_login_is_amr_pwd(browser: FlaskClient, confidential_client) -> None:
    claims = id_token(browser, confidential_client)
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == ACR_ONE_FACTOR


def test_a_password_and_a_code_are_amr_pwd_otp_mfa(
    app: Flask, user: UserInfo, confidential_client, person_with_totp: str, fake_clock
) -> None:
    browser = app.test_client()
    answer = login(browser, user.email, user.password)
    enter_code(browser, answer.headers["Location"], pyotp.TOTP(person_with_totp).at(fake_clock()))
    claims = id_token(browser, confidential_client)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == ACR_MFA


def test_acr_values_mfa_steps_up_a_password_only_session(
    app: Flask, user: UserInfo, confidential_client, fake_clock
) -> None:
    """acr_values: Requested Authentication Context Class Reference values — Core §3.1.2.1."""
    browser = app.test_client()
    login(browser, user.email, user.password)  # a session from before the authenticator
    secret = enrol(browser, fake_clock)
    url = authorize_url(confidential_client, acr_values=ACR_MFA)
    asked = browser.get(url)
    assert asked.status_code == 302
    assert asked.headers["Location"].startswith("/login/second-factor?next=")
    back = enter_code(browser, asked.headers["Location"], pyotp.TOTP(secret).at(fake_clock()))
    assert back.startswith("/oauth/authorize?") and "acr_values=" in back
    claims = id_token(browser, confidential_client, acr_values=ACR_MFA)
    assert claims["acr"] == ACR_MFA
    assert "pwd" in claims["amr"] and "otp" in claims["amr"] and "mfa" in claims["amr"]


def test_a_wrong_code_at_the_step_up_issues_nothing(
    app: Flask, user: UserInfo, confidential_client, fake_clock
) -> None:
    browser = app.test_client()
    login(browser, user.email, user.password)
    enrol(browser, fake_clock)
    asked = browser.get(authorize_url(confidential_client, acr_values=ACR_MFA))
    page = browser.get(asked.headers["Location"])
    wrong = browser.post(
        asked.headers["Location"], data={"code": "99999x", "csrf_token": csrf_token(page.data)}
    )
    assert wrong.status_code == 400
    again = browser.get(authorize_url(confidential_client, acr_values=ACR_MFA))
    assert again.headers["Location"].startswith("/login/second-factor")


def test_prompt_none_with_acr_values_mfa_is_interaction_required(
    app: Flask, user: UserInfo, confidential_client, fake_clock
) -> None:
    browser = app.test_client()
    login(browser, user.email, user.password)
    enrol(browser, fake_clock)
    response = browser.get(authorize_url(confidential_client, acr_values=ACR_MFA, prompt="none"))
    assert_redirect_error(response, confidential_client.redirect_uri, "interaction_required")


def test_a_person_without_a_second_factor_is_not_asked_and_acr_says_so(
    browser: FlaskClient, confidential_client
) -> None:
    """acr_values is a voluntary claim (Core §3.1.2.1): the client reads what it got."""
    claims = id_token(browser, confidential_client, acr_values=ACR_MFA)
    assert claims["acr"] == ACR_ONE_FACTOR


def test_max_age_past_asks_for_the_password_and_the_code_again(
    app: Flask, user: UserInfo, confidential_client, person_with_totp: str, fake_clock
) -> None:
    browser = app.test_client()
    answer = login(browser, user.email, user.password)
    enter_code(browser, answer.headers["Location"], pyotp.TOTP(person_with_totp).at(fake_clock()))
    fake_clock.advance(120)
    asked = browser.get(authorize_url(confidential_client, max_age="60"))
    assert asked.headers["Location"].startswith("/login?next=")
    login_page = browser.get(asked.headers["Location"])
    password = browser.post(
        asked.headers["Location"],
        data={
            "email": user.email,
            "password": user.password,
            "csrf_token": csrf_token(login_page.data),
        },
    )
    assert password.headers["Location"].startswith("/login/second-factor")
    back = enter_code(
        browser, password.headers["Location"], pyotp.TOTP(person_with_totp).at(fake_clock())
    )
    consent_or_code = browser.get(back)
    if consent_or_code.status_code == 200:  # the consent page
        consent_or_code = browser.post(
            back,
            data={
                "csrf_token": csrf_token(consent_or_code.data),
                "decision": "allow",
                "scope": re.findall(r'name="scope" value="([^"]+)"', consent_or_code.data.decode()),
            },
        )
    code = query_of(consent_or_code.headers["Location"])["code"]
    claims = decode_jwt(
        browser, exchange_code(browser, confidential_client, code).get_json()["id_token"]
    )[1]
    assert claims["auth_time"] == fake_clock.timestamp()
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_prompt_login_asks_for_both_steps_again(
    app: Flask, user: UserInfo, confidential_client, person_with_totp: str, fake_clock
) -> None:
    browser = app.test_client()
    answer = login(browser, user.email, user.password)
    enter_code(browser, answer.headers["Location"], pyotp.TOTP(person_with_totp).at(fake_clock()))
    fake_clock.advance(30)
    asked = browser.get(authorize_url(confidential_client, prompt="login"))
    assert asked.headers["Location"].startswith("/login?next=")
    login_page = browser.get(asked.headers["Location"])
    password = browser.post(
        asked.headers["Location"],
        data={
            "email": user.email,
            "password": user.password,
            "csrf_token": csrf_token(login_page.data),
        },
    )
    assert password.headers["Location"].startswith("/login/second-factor")
    back = enter_code(
        browser, password.headers["Location"], pyotp.TOTP(person_with_totp).at(fake_clock())
    )
    # The login made for this request counts once: the request is answered, not sent back to
    # the login page (``reauthentication``), with the new login's time.
    answered = browser.get(back)
    if answered.status_code == 200:
        answered = browser.post(
            back,
            data={
                "csrf_token": csrf_token(answered.data),
                "decision": "allow",
                "scope": re.findall(r'name="scope" value="([^"]+)"', answered.data.decode()),
            },
        )
    code = query_of(answered.headers["Location"])["code"]
    token = exchange_code(browser, confidential_client, code).get_json()["id_token"]
    claims = decode_jwt(browser, token)[1]
    assert claims["auth_time"] == fake_clock.timestamp()
    assert claims["acr"] == ACR_MFA
