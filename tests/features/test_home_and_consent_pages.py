"""The home page, and what the consent page tells a person about the app before they answer."""

from __future__ import annotations

import html
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.helpers import authorize_url, consent, csrf_token, get_code

ISSUER = "http://127.0.0.1:5000"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- home -------------------------------------------------------------------------------------


def test_home_page_says_what_this_is_and_where_to_go(client):
    response = client.get("/")

    assert response.status_code == 200
    page = text_of(response)
    assert "OpenID Connect provider" in page
    for link in ('href="/signup"', 'href="/login"', 'href="/console/"'):
        assert link in page, link
    assert DISCOVERY in page


def test_home_page_shows_a_logged_in_person_their_apps_and_the_console(logged_in):
    page = text_of(logged_in.get("/"))

    assert 'href="/account/apps"' in page
    assert 'href="/console/"' in page
    assert 'class="button primary" href="/signup"' not in page
    assert DISCOVERY in page


# --- consent ----------------------------------------------------------------------------------


def consent_page(browser: FlaskClient, app_client: factories.ClientInfo, **params: str) -> str:
    response = browser.get(authorize_url(app_client, **params))
    assert response.status_code == 200, response.status_code
    return text_of(response)


def run_cli(app: Flask, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def registered_by(page: str) -> str:
    """The sentence that says who registered the app, as a person reads it."""
    found = re.search(r'<p class="registered-by">(.*?)</p>', page, re.S)
    assert found, page
    return " ".join(found.group(1).split())


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ("Google Security Team", "security@google.com"),
        ("the operator of this server", "operator@authserver.example"),
        ("", "security-team@accounts.google.com"),
    ],
    ids=["posing-as-a-company", "posing-as-the-operator", "posing-by-address"],
)
def test_consent_never_presents_a_developers_own_words_as_who_registered_the_app(
    app, logged_in, name, email
):
    """A developer's name and address are whatever they typed (addresses are never confirmed),
    so the page does not repeat them as a fact: it says only what this server knows."""
    with app.app_context():
        developer = factories.make_user(email=email, name=name)
        app_client = factories.make_client(owner_email=developer.email, name="Drive")

    page = consent_page(logged_in, app_client)

    said = registered_by(page)
    assert said == "Drive is registered by a developer with an account on this server."
    for claim in (name or email, email, email.split("@")[1]):
        assert claim not in page, claim
    assert "Not verified" in page


def test_consent_says_a_verified_app_was_verified_by_the_operator(
    app, logged_in, confidential_client, user
):
    run_cli(app, "clients", "verify", confidential_client.client_id)

    page = consent_page(logged_in, confidential_client)

    assert registered_by(page) == (
        "Example App is registered by a developer and verified by the operator of this server."
    )
    assert user.name not in registered_by(page)


def test_consent_says_an_app_made_on_the_command_line_was_registered_by_the_operator(
    app, logged_in
):
    created = run_cli(
        app,
        "clients",
        "create",
        "--name",
        "Operator App",
        "--redirect-uri",
        factories.REDIRECT_URI,
        "--scope",
        factories.ALL_SCOPES,
        "--json",
    )
    app_client = factories.ClientInfo(
        0, json.loads(created.output)["client_id"], None, factories.REDIRECT_URI, ""
    )

    page = consent_page(logged_in, app_client)

    assert registered_by(page) == "Operator App is registered by the operator of this server."
    assert "Not verified" not in page


def test_consent_shows_just_the_host_people_will_be_sent_back_to(logged_in, confidential_client):
    page = consent_page(logged_in, confidential_client)

    assert re.search(r'<strong class="host">app\.example\.com</strong>', page)


def test_consent_shows_the_port_of_a_loopback_redirect(app, logged_in, user):
    with app.app_context():
        loopback = factories.make_client(
            owner_email=user.email, redirect_uris=["http://127.0.0.1:8765/callback"]
        )

    page = consent_page(logged_in, loopback)

    assert '<strong class="host">127.0.0.1:8765</strong>' in page


def test_a_self_service_app_not_verified_by_the_operator_is_marked_as_such(
    logged_in, confidential_client
):
    assert "Not verified" in consent_page(logged_in, confidential_client)


def test_verifying_an_app_on_the_command_line_removes_the_note(app, logged_in, confidential_client):
    """SPEC: ``--verified`` marks an app the operator vouches for; ``clients verify`` too."""
    result = run_cli(app, "clients", "verify", confidential_client.client_id, "--json")

    assert json.loads(result.output) == {
        "client_id": confidential_client.client_id,
        "verified": True,
    }
    assert "Not verified" not in consent_page(logged_in, confidential_client)


def test_clients_create_verified_makes_a_verified_app(app, logged_in, user):
    created = run_cli(
        app,
        "clients",
        "create",
        "--name",
        "Vouched",
        "--redirect-uri",
        factories.REDIRECT_URI,
        "--scope",
        "openid profile",
        "--owner",
        user.email,
        "--verified",
        "--json",
    )
    app_client = factories.ClientInfo(
        0, json.loads(created.output)["client_id"], None, factories.REDIRECT_URI, ""
    )

    page = consent_page(logged_in, app_client, scope="openid profile")

    assert "verified by the operator of this server" in registered_by(page)
    assert "Not verified" not in page


def test_verify_of_an_unknown_client_fails_with_one_line(app):
    result = app.test_cli_runner().invoke(args=["clients", "verify", "no-such-client"])

    assert result.exit_code != 0
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_the_console_cannot_set_verified(app, logged_in, confidential_client):
    url = f"/console/clients/{confidential_client.client_id}/edit"
    token = csrf_token(logged_in.get(url).data)

    logged_in.post(
        url,
        data={
            "csrf_token": token,
            "name": "Example App",
            "redirect_uris": factories.REDIRECT_URI,
            "scopes": factories.ALL_SCOPES.split(),
            "grant_types": ["authorization_code", "refresh_token"],
            "verified": "y",
        },
    )

    assert "Not verified" in consent_page(logged_in, confidential_client)


@pytest.mark.parametrize("app_config", [{"REGISTRATION_ENABLED": True}])
def test_an_app_registered_through_rfc_7591_is_marked_unverified(app, logged_in):
    registered = app.test_client().post(
        "/oauth/register",
        json={
            "redirect_uris": [factories.REDIRECT_URI],
            "client_name": "Dynamic",
            "scope": "openid",
        },
    )
    assert registered.status_code == 201, registered.data
    app_client = factories.ClientInfo(
        0, registered.get_json()["client_id"], None, factories.REDIRECT_URI, ""
    )

    page = consent_page(logged_in, app_client, scope="openid")

    assert "Not verified" in page
    assert registered_by(page) == "Dynamic is registered through self-service registration."


def test_incremental_consent_lists_earlier_scopes_as_already_allowed_and_asks_for_the_new(
    logged_in, confidential_client
):
    """SPEC: one checkbox ``scope`` per requested scope, checked by default; a request for
    scopes already granted skips the page, one with new scopes shows what is new."""
    get_code(logged_in, confidential_client, scope="openid profile")

    page = consent_page(logged_in, confidential_client, scope="openid profile events:read")

    new_part, already_part = page.split("Already allowed")
    assert "It also asks to" in new_part
    assert 'value="events:read" checked' in new_part
    assert 'value="profile"' not in new_part
    assert 'name="scope" value="profile" checked' in already_part
    assert 'type="hidden" name="scope" value="openid"' in already_part
    boxes = re.findall(r'<input type="checkbox"[^>]*>', page)
    assert len(boxes) == 3


def test_allowing_the_incremental_page_keeps_earlier_scopes_and_adds_the_new(
    app, logged_in, confidential_client
):
    get_code(logged_in, confidential_client, scope="openid profile")

    url = authorize_url(confidential_client, scope="openid profile events:read")
    response = consent(logged_in, url)

    assert response.status_code == 302
    apps = text_of(logged_in.get("/account/apps"))
    assert "See your calendar events" in apps
    assert "See your name and basic profile" in apps
