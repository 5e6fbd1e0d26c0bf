"""The audit record: who did what, when, from where, with which outcome; never a credential.
And what a developer learns from it in the console: why their requests were refused."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent
from tests import factories
from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    authorize_url,
    basic_auth,
    consent,
    csrf_token,
    exchange_code,
    get_code,
    login,
    pkce_pair,
    refresh,
    user_tokens,
)


def events(app: Flask, name: str | None = None) -> list[dict]:
    with app.app_context():
        statement = select(AuditEvent).order_by(AuditEvent.id)
        if name is not None:
            statement = statement.where(AuditEvent.event == name)
        return [
            {
                "event": e.event,
                "outcome": e.outcome,
                "user_id": e.user_id,
                "client_id": e.client_id,
                "actor": e.actor,
                "address": e.address,
                "at": e.at,
                "detail": dict(e.detail or {}),
            }
            for e in db.session.scalars(statement)
        ]


def reasons(app: Flask, name: str = "token.refused") -> list[str]:
    return [e["detail"]["reason"] for e in events(app, name)]


def run_cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


# --- what is recorded -------------------------------------------------------------------------


def test_consent_granted_changed_and_revoked_are_recorded(
    app, logged_in, confidential_client, user
):
    get_code(logged_in, confidential_client, scope="openid profile")
    get_code(logged_in, confidential_client, scope="openid profile events:read")
    page = logged_in.get("/account/apps")
    logged_in.post(
        f"/account/apps/{confidential_client.client_id}/revoke",
        data={"csrf_token": csrf_token(page.data)},
    )

    recorded = [e for e in events(app) if e["event"].startswith("consent.")]
    assert [e["event"] for e in recorded] == [
        "consent.granted",
        "consent.changed",
        "consent.revoked",
    ]
    for event in recorded:
        assert event["user_id"] == user.id
        assert event["client_id"] == confidential_client.client_id
        assert event["actor"] == f"user:{user.subject}"
        assert event["address"] == "127.0.0.1"
        assert event["outcome"] == "success"
        assert event["at"] is not None
    assert recorded[1]["detail"]["scope"] == "openid profile events:read"


def test_tokens_issued_revoked_and_reuse_detected_are_recorded(
    app, logged_in, confidential_client, fake_clock
):
    issued = user_tokens(logged_in, confidential_client)
    (first,) = events(app, "token.issued")
    assert first["client_id"] == confidential_client.client_id
    assert first["detail"]["grant_type"] == "authorization_code"

    rotated = refresh(app.test_client(), confidential_client, issued["refresh_token"]).get_json()
    fake_clock.advance(11)  # past the retry window
    refresh(app.test_client(), confidential_client, issued["refresh_token"])  # reuse
    (reuse,) = events(app, "token.reuse_detected")
    assert reuse["client_id"] == confidential_client.client_id
    assert reuse["outcome"] == "failure"
    assert reuse["detail"]["reason"] == "refresh token reused"

    app.test_client().post(
        "/oauth/revoke",
        data={"token": rotated["access_token"]},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    (revoked,) = events(app, "token.revoked")
    assert revoked["client_id"] == confidential_client.client_id
    assert revoked["detail"]["token_type"] == "access_token"


def test_client_lifecycle_is_recorded_with_its_actor(app, logged_in, confidential_client, user):
    client_id = confidential_client.client_id
    confirm = logged_in.get(f"/console/clients/{client_id}/rotate-secret")
    logged_in.post(
        f"/console/clients/{client_id}/rotate-secret", data={"csrf_token": csrf_token(confirm.data)}
    )
    run_cli(app, "clients", "verify", client_id)
    confirm = logged_in.get(f"/console/clients/{client_id}/delete")
    logged_in.post(
        f"/console/clients/{client_id}/delete", data={"csrf_token": csrf_token(confirm.data)}
    )

    recorded = [e for e in events(app) if e["event"].startswith("client.")]
    assert [e["event"] for e in recorded] == [
        "client.created",
        "client.secret_rotated",
        "client.verified",
        "client.deleted",
    ]
    assert {e["client_id"] for e in recorded} == {client_id}
    assert recorded[1]["actor"] == f"user:{user.subject}"
    assert recorded[1]["detail"]["grace_seconds"] == 86_400
    assert recorded[2]["actor"] == "operator"


def test_a_key_rotation_is_recorded(app):
    run_cli(app, "keys", "rotate")

    (rotated,) = events(app, "key.rotated")
    assert rotated["actor"] == "operator"
    assert rotated["detail"]["kid"]


def test_no_secret_token_code_or_password_ever_reaches_the_audit_record(app, client, user):
    """The record holds reasons and identifiers, never a credential."""
    issued: list[str] = [user.password, "wrong password, surely"]
    login(client, user.email, "wrong password, surely")
    login(client, user.email, user.password)
    signup = client.get("/signup")
    client.post(
        "/signup",
        data={
            "email": user.email,
            "password": "another long password",
            "name": "X",
            "csrf_token": csrf_token(signup.data),
        },
    )
    issued.append("another long password")
    login(client, user.email, user.password)
    with app.app_context():
        app_client = factories.make_client(owner_email=user.email)
    issued.append(app_client.secret)
    code, _ = get_code(client, app_client)
    issued.append(code)
    tokens = exchange_code(client, app_client, code).get_json()
    issued += [tokens["access_token"], tokens["refresh_token"], tokens["id_token"]]
    exchange_code(client, app_client, code)  # replay
    second = user_tokens(client, app_client)
    issued += [second["access_token"], second["refresh_token"]]
    refreshed = refresh(client, app_client, second["refresh_token"]).get_json()
    issued += [refreshed["access_token"], refreshed["refresh_token"]]
    refresh(client, app_client, second["refresh_token"])  # reuse
    wrong = factories.ClientInfo(0, app_client.client_id, "not-the-secret", None, "")
    refresh(client, wrong, refreshed["refresh_token"])
    issued.append("not-the-secret")
    client.post(
        "/oauth/revoke",
        data={"token": refreshed["refresh_token"]},
        headers=basic_auth(app_client.client_id, app_client.secret),
    )
    confirm = client.get(f"/console/clients/{app_client.client_id}/rotate-secret")
    rotated = client.post(
        f"/console/clients/{app_client.client_id}/rotate-secret",
        data={"csrf_token": csrf_token(confirm.data)},
    )
    page = rotated.get_data(as_text=True)
    issued.append(page.split('id="client-secret"')[1].split(">")[1].split("<")[0])

    rows = [repr(e) for e in events(app)]
    assert len(rows) >= 10
    for row in rows:
        for value in issued:
            assert value not in row, (value, row)


# --- refused requests, for the developer --------------------------------------------------------


def test_a_wrong_client_secret_is_recorded_after_the_refusal_is_rolled_back(
    app, confidential_client
):
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers=basic_auth(confidential_client.client_id, "wrong"),
    )

    assert_oauth_error(response, "invalid_client", 401)
    (refused,) = events(app, "token.refused")
    assert refused["client_id"] == confidential_client.client_id
    assert refused["outcome"] == "failure"
    assert refused["actor"] == "anonymous"  # a wrong secret proves nothing about the sender
    assert refused["detail"]["error"] == "invalid_client"
    assert "wrong client secret" in refused["detail"]["reason"]
    assert refused["detail"]["grant_type"] == "refresh_token"


def test_a_refusal_of_an_unknown_client_is_not_recorded(app, client):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("no-such-client", "x"),
    )

    assert response.status_code == 401
    assert events(app, "token.refused") == []


def test_a_reused_code_is_recorded(app, logged_in, confidential_client):
    code, _ = get_code(logged_in, confidential_client)
    exchange_code(logged_in, confidential_client, code)
    exchange_code(logged_in, confidential_client, code)

    assert reasons(app) == ["authorization code reused (what it issued is revoked)"]
    assert events(app, "token.reuse_detected")


def test_an_expired_code_is_recorded(app, logged_in, confidential_client, fake_clock):
    code, _ = get_code(logged_in, confidential_client)
    fake_clock.advance(61)
    exchange_code(logged_in, confidential_client, code)

    assert reasons(app) == ["authorization code expired"]


def test_a_redirect_uri_differing_from_the_authorization_request_is_recorded(
    app, logged_in, confidential_client
):
    code, _ = get_code(logged_in, confidential_client)
    exchange_code(logged_in, confidential_client, code, redirect_uri="https://app.example.com/x")

    assert reasons(app) == ["redirect_uri differs from the authorization request's"]


def test_a_pkce_failure_is_recorded(app, logged_in, public_client):
    verifier, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    exchange_code(logged_in, public_client, code, code_verifier=pkce_pair()[0])

    (reason,) = reasons(app)
    assert reason.startswith("PKCE failure")


def test_a_reused_refresh_token_is_recorded(app, logged_in, confidential_client, fake_clock):
    issued = user_tokens(logged_in, confidential_client)
    refresh(app.test_client(), confidential_client, issued["refresh_token"])
    fake_clock.advance(11)  # past the retry window
    refresh(app.test_client(), confidential_client, issued["refresh_token"])

    assert reasons(app) == ["refresh token reused (its grant is revoked)"]


def test_an_unregistered_redirect_uri_at_the_authorization_endpoint_is_recorded(
    app, logged_in, confidential_client
):
    """SPEC: a mismatched redirect URI gets an HTML error page, never a redirect."""
    response = logged_in.get(
        authorize_url(confidential_client, redirect_uri="https://evil.example/cb")
    )

    assert response.status_code == 400
    (refused,) = events(app, "authorize.refused")
    assert refused["client_id"] == confidential_client.client_id
    assert refused["detail"]["reason"] == "redirect_uri not registered: https://evil.example/cb"


def test_a_scope_not_allowed_at_the_authorization_endpoint_is_recorded(app, logged_in, user):
    with app.app_context():
        narrow = factories.make_client(owner_email=user.email, scope="openid profile")

    response = logged_in.get(authorize_url(narrow, scope="openid events:write"))

    assert_redirect_error(response, narrow.redirect_uri, "invalid_scope")
    (refused,) = events(app, "authorize.refused")
    assert refused["detail"]["reason"].startswith("scope not allowed")


def test_the_console_shows_its_clients_refusals_with_reason_and_time(
    app, logged_in, confidential_client
):
    app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(confidential_client.client_id, "wrong"),
    )
    logged_in.get(authorize_url(confidential_client, redirect_uri="https://evil.example/cb"))

    page = html.unescape(
        logged_in.get(f"/console/clients/{confidential_client.client_id}").get_data(as_text=True)
    )
    activity = " ".join(page.split("<h2>Recent activity</h2>")[1].split())

    assert "Token request (client_credentials) refused" in activity
    assert "wrong client secret" in activity
    assert "Authorization request refused" in activity
    assert "redirect_uri not registered: https://evil.example/cb" in activity
    assert activity.count("<time datetime=") == 2


def test_another_developer_does_not_see_the_refusals(app, confidential_client):
    app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(confidential_client.client_id, "wrong"),
    )
    with app.app_context():
        other = factories.make_user(email="other-dev@example.com")
        theirs = factories.make_client(owner_email=other.email, name="Theirs")
    browser = app.test_client()
    login(browser, other.email, other.password)

    page = browser.get(f"/console/clients/{theirs.client_id}").get_data(as_text=True)
    assert "No refused requests recently." in page
    assert browser.get(f"/console/clients/{confidential_client.client_id}").status_code == 404


@pytest.mark.parametrize("decision", ["deny"])
def test_a_person_denying_is_not_a_refusal_of_the_app(
    app, logged_in, confidential_client, decision
):
    consent(logged_in, authorize_url(confidential_client), decision=decision)

    assert events(app, "authorize.refused") == []
