"""What the console tells a developer before it bites (issue 19, item 12): refresh tokens need
``offline_access``, a second rotation ends the previous secret's grace, a confidential client
that never uses PKCE gets a hint, and every input's ``autocomplete`` is a real value."""

from __future__ import annotations

import re

import pytest

from authserver import policy
from tests import factories
from tests.helpers import exchange_code, get_code, pkce_pair

from .test_console import action, credentials_shown, edit, register

#: HTML's autofill field names and the on/off switches (WHATWG HTML §4.10.18.7.1), as used here.
VALID_AUTOCOMPLETE = {"on", "off", "name", "email", "username", "current-password", "new-password"}


def show(browser, client_id: str) -> str:
    return browser.get(f"/console/clients/{client_id}").get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/console/clients/new", "/login", "/signup", "/console/", "/account/apps"]
)
def test_no_input_has_an_invalid_autocomplete(app, logged_in, path):
    signed_out = path in ("/login", "/signup")
    browser = app.test_client() if signed_out else logged_in
    page = browser.get(path).get_data(as_text=True)
    values = re.findall(r'autocomplete="([^"]*)"', page)
    assert "None" not in values
    assert set(values) <= VALID_AUTOCOMPLETE, values


def test_edit_form_has_no_autocomplete_none(logged_in, confidential_client):
    page = logged_in.get(f"/console/clients/{confidential_client.client_id}/edit")
    assert 'autocomplete="None"' not in page.get_data(as_text=True)


# --- refresh tokens need offline_access --------------------------------------------------------


def test_the_refresh_token_choice_explains_offline_access(logged_in):
    page = logged_in.get("/console/clients/new").get_data(as_text=True)
    label = re.search(r'<label for="grant_types-1">([^<]*)</label>', page)
    assert label and "offline_access" in label.group(1)


def test_refresh_grant_without_offline_access_gets_a_hint_until_it_is_added(logged_in):
    client_id, _ = credentials_shown(
        register(
            logged_in,
            scopes=["openid", "profile"],
            grant_types=["authorization_code", "refresh_token"],
        )
    )
    page = show(logged_in, client_id)
    assert 'class="hint-offline-access"' in page
    assert "never gets a refresh token" in page
    assert (
        edit(
            logged_in,
            client_id,
            name="My App",
            redirect_uris="https://app.example.com/callback",
            scopes=["openid", "profile", "offline_access"],
        ).status_code
        == 302
    )
    assert "hint-offline-access" not in show(logged_in, client_id)


def test_no_offline_access_hint_without_the_refresh_grant(logged_in):
    client_id, _ = credentials_shown(
        register(logged_in, scopes=["openid"], grant_types=["authorization_code"])
    )
    assert "hint-offline-access" not in show(logged_in, client_id)


# --- a second rotation within the grace --------------------------------------------------------


def test_a_second_rotation_within_the_grace_warns_that_it_ends_the_previous_secret(
    logged_in, confidential_client
):
    url = f"/console/clients/{confidential_client.client_id}/rotate-secret"
    first = logged_in.get(url).get_data(as_text=True)
    assert "A previous secret is still in its grace period" not in first
    assert action(logged_in, confidential_client.client_id, "rotate-secret").status_code == 200
    second = logged_in.get(url).get_data(as_text=True)
    assert "A previous secret is still in its grace period" in second
    assert "rotating again ends it at once" in second


def test_no_warning_once_the_grace_is_over(logged_in, confidential_client, fake_clock, app):
    action(logged_in, confidential_client.client_id, "rotate-secret")
    fake_clock.advance(int(app.config["CLIENT_SECRET_GRACE"]) + 1)
    page = logged_in.get(f"/console/clients/{confidential_client.client_id}/rotate-secret")
    assert "A previous secret is still" not in page.get_data(as_text=True)


# --- PKCE ---------------------------------------------------------------------------------------


def test_a_confidential_client_that_never_sends_pkce_gets_a_hint(logged_in, confidential_client):
    assert "hint-pkce" not in show(logged_in, confidential_client.client_id)  # nothing seen yet
    code, _ = get_code(logged_in, confidential_client, scope="openid")
    assert exchange_code(logged_in, confidential_client, code).status_code == 200
    page = show(logged_in, confidential_client.client_id)
    assert 'class="hint-pkce"' in page and "RFC 9700" in page


def test_a_client_that_uses_pkce_gets_no_hint(logged_in, confidential_client):
    for _ in range(2):
        verifier, challenge = pkce_pair()
        code, _ = get_code(
            logged_in,
            confidential_client,
            scope="openid",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        response = exchange_code(logged_in, confidential_client, code, code_verifier=verifier)
        assert response.status_code == 200
    assert "hint-pkce" not in show(logged_in, confidential_client.client_id)
    # One exchange without PKCE among ones with it is not "never".
    code, _ = get_code(logged_in, confidential_client, scope="openid")
    exchange_code(logged_in, confidential_client, code)
    assert "hint-pkce" not in show(logged_in, confidential_client.client_id)


def test_public_clients_get_no_pkce_hint():
    """They cannot skip PKCE at all; the rule says so."""
    assert not policy.pkce_hint_due(True, [False, False])
    assert policy.pkce_hint_due(False, [False, False])
    assert not policy.pkce_hint_due(False, [])
    assert not policy.pkce_hint_due(False, [False, True])


def test_the_hint_ignores_other_clients_exchanges(app, logged_in, user, confidential_client):
    with app.app_context():
        other = factories.make_client(owner_email=user.email, name="Other")
    code, _ = get_code(logged_in, other, scope="openid")
    exchange_code(logged_in, other, code)
    assert "hint-pkce" not in show(logged_in, confidential_client.client_id)
    assert "hint-pkce" in show(logged_in, other.client_id)
