"""refresh_token grant: RFC 6749 §6, rotation and reuse detection per RFC 9700 §4.14.2 and SPEC."""

from __future__ import annotations

from authserver.extensions import db
from tests import factories
from tests.helpers import assert_oauth_error, decode_jwt, exchange_code, get_code, refresh
from tests.helpers import user_tokens as _tokens


def test_refresh_rotates_the_refresh_token(logged_in, confidential_client):
    first = _tokens(logged_in, confidential_client)
    response = refresh(logged_in, confidential_client, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    third = refresh(logged_in, confidential_client, second["refresh_token"])
    assert third.status_code == 200


def test_reused_rotated_refresh_token_revokes_the_family(
    logged_in, confidential_client, fake_clock
):
    """SPEC: presenting an already-rotated refresh token revokes the whole family (past the
    retry window; see test_refresh_retry.py for a retry inside it)."""
    first = _tokens(logged_in, confidential_client)
    second = refresh(logged_in, confidential_client, first["refresh_token"]).get_json()
    fake_clock.advance(11)
    reuse = refresh(logged_in, confidential_client, first["refresh_token"])
    assert_oauth_error(reuse, "invalid_grant")
    # The legitimate holder's newer token is dead too: one of the two is an attacker.
    assert_oauth_error(
        refresh(logged_in, confidential_client, second["refresh_token"]), "invalid_grant"
    )


def test_refresh_may_narrow_but_not_widen_the_scope(logged_in, confidential_client):
    """The requested scope MUST NOT include any scope not originally granted — RFC 6749 §6."""
    first = _tokens(
        logged_in, confidential_client, scope="openid profile offline_access events:read"
    )
    narrowed = refresh(logged_in, confidential_client, first["refresh_token"], scope="events:read")
    assert narrowed.status_code == 200
    body = narrowed.get_json()
    assert body["scope"] == "events:read"
    _, claims = decode_jwt(logged_in, body["access_token"])
    assert claims["scope"] == "events:read"
    # Narrowing once does not lose the original grant for the next refresh.
    widened_back = refresh(logged_in, confidential_client, body["refresh_token"])
    assert widened_back.get_json()["scope"] == "openid profile offline_access events:read"
    too_wide = refresh(
        logged_in,
        confidential_client,
        widened_back.get_json()["refresh_token"],
        scope="events:write",
    )
    assert_oauth_error(too_wide, "invalid_scope")


def test_expired_refresh_token_is_invalid_grant(logged_in, confidential_client, fake_clock):
    first = _tokens(logged_in, confidential_client)
    fake_clock.advance(2_592_001)
    assert_oauth_error(
        refresh(logged_in, confidential_client, first["refresh_token"]), "invalid_grant"
    )


def test_another_clients_refresh_token_is_invalid_grant(app, logged_in, confidential_client, user):
    """RFC 6749 §6: the refresh token is bound to the client it was issued to."""
    with app.app_context():
        other = factories.make_client(owner_email=user.email, name="Other")
    first = _tokens(logged_in, confidential_client)
    assert_oauth_error(refresh(logged_in, other, first["refresh_token"]), "invalid_grant")
    # The rightful owner is unaffected by the attempt.
    assert refresh(logged_in, confidential_client, first["refresh_token"]).status_code == 200


def test_unknown_and_missing_refresh_tokens(logged_in, confidential_client):
    assert_oauth_error(refresh(logged_in, confidential_client, "nonsense"), "invalid_grant")
    assert_oauth_error(refresh(logged_in, confidential_client, ""), "invalid_request")


def test_wrong_secret_on_refresh_is_invalid_client(logged_in, confidential_client):
    first = _tokens(logged_in, confidential_client)
    impostor = factories.ClientInfo(
        confidential_client.id,
        confidential_client.client_id,
        "wrong",
        confidential_client.redirect_uri,
        confidential_client.scope,
    )
    assert_oauth_error(refresh(logged_in, impostor, first["refresh_token"]), "invalid_client", 401)


def test_client_without_refresh_grant_is_unauthorized_client(app, logged_in, confidential_client):
    first = _tokens(logged_in, confidential_client)
    with app.app_context():
        from authserver.services import clients

        row = clients.find_client(confidential_client.client_id)
        clients.update_client(row, row.name, row.redirect_uris, row.scope, ["authorization_code"])
        db.session.commit()
    response = refresh(logged_in, confidential_client, first["refresh_token"])
    assert_oauth_error(response, "unauthorized_client")


def test_public_client_refreshes_without_a_secret(logged_in, public_client):
    from tests.helpers import pkce_pair

    verifier, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    first = exchange_code(logged_in, public_client, code, code_verifier=verifier).get_json()
    response = refresh(logged_in, public_client, first["refresh_token"])
    assert response.status_code == 200, response.data
