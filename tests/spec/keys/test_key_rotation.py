"""Signing keys: every JWT names its key (RFC 7515 §4.1.4 kid), and `keys rotate` keeps old
public keys published until the last token they signed has expired (SPEC)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tests.helpers import basic_auth, refresh
from tests.helpers import user_tokens as tokens


def rotate(app) -> str:
    """`flask --app authserver keys rotate --json`; the new key's kid."""
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["kid"]


def published_kids(http) -> list[str]:
    response = http.get("/oauth/jwks")
    assert response.status_code == 200
    return [key["kid"] for key in response.get_json()["keys"]]


def kid_of(token: str) -> str:
    return jws.extract_compact(token.encode()).headers()["kid"]


def verify(http, token: str) -> dict:
    """Verify as a relying party or resource server does: by the published JWKS alone."""
    keys = KeySet.import_key_set(http.get("/oauth/jwks").get_json())
    return dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)


def test_every_jwt_carries_a_kid_that_the_jwks_publishes(logged_in, confidential_client):
    """kid: a hint indicating which key was used to secure the JWS — RFC 7515 §4.1.4; SPEC:
    access tokens and ID tokens carry it; RFC 7517 §4.5: it matches a key's kid in the set."""
    body = tokens(logged_in, confidential_client)
    published = published_kids(logged_in)
    for token in (body["access_token"], body["id_token"]):
        assert kid_of(token) in published
        verify(logged_in, token)
    refreshed = refresh(logged_in, confidential_client, body["refresh_token"]).get_json()
    assert kid_of(refreshed["access_token"]) in published


def test_the_jwks_publishes_public_keys_only(client):
    """RFC 7517 §4 / RFC 7518 §6.3.2: the private members (d, p, q, dp, dq, qi) are never
    published."""
    for key in client.get("/oauth/jwks").get_json()["keys"]:
        assert key["kty"] == "RSA" and key["n"] and key["e"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_rotate_activates_a_new_key(app, logged_in, confidential_client):
    """SPEC: `keys rotate` — a new signing key becomes active."""
    before = tokens(logged_in, confidential_client)
    old_kid = kid_of(before["access_token"])
    new_kid = rotate(app)
    assert new_kid != old_kid
    after = tokens(logged_in, confidential_client)
    assert kid_of(after["access_token"]) == new_kid
    assert kid_of(after["id_token"]) == new_kid
    refreshed = refresh(logged_in, confidential_client, before["refresh_token"]).get_json()
    assert kid_of(refreshed["access_token"]) == new_kid
    assert published_kids(logged_in)[0] == new_kid  # newest first
    assert set(published_kids(logged_in)) == {old_kid, new_kid}


def test_tokens_signed_before_rotation_still_verify_after_it(app, logged_in, confidential_client):
    """SPEC: the old key stays in the JWKS until every token it signed has expired, so a token
    issued a moment before the rotation verifies against the JWKS fetched after it."""
    before = tokens(logged_in, confidential_client)
    rotate(app)
    for token in (before["access_token"], before["id_token"]):
        verify(logged_in, token)
    # ...and the server itself still honours it.
    userinfo = logged_in.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {before['access_token']}"}
    )
    assert userinfo.status_code == 200
    introspection = logged_in.post(
        "/oauth/introspect",
        data={"token": before["access_token"]},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert introspection.get_json()["active"] is True


@pytest.mark.parametrize(
    ("app_config", "window"),
    [
        ({}, 600 + 60),
        ({"ACCESS_TOKEN_TTL": 300, "ID_TOKEN_TTL": 3600}, 3600 + 60),
        ({"ACCESS_TOKEN_TTL": 7200, "ID_TOKEN_TTL": 600}, 7200 + 60),
    ],
)
def test_an_old_key_leaves_the_jwks_after_its_last_token_expired(
    app, app_config, window, logged_in, confidential_client, fake_clock
):
    """SPEC: old public keys stay published until the last token they signed has expired:
    max(ACCESS_TOKEN_TTL, ID_TOKEN_TTL) + 60 s after the rotation, and no longer."""
    before = tokens(logged_in, confidential_client)
    old_kid = kid_of(before["access_token"])
    new_kid = rotate(app)
    fake_clock.advance(window - 1)
    assert set(published_kids(logged_in)) == {old_kid, new_kid}
    fake_clock.advance(2)
    assert published_kids(logged_in) == [new_kid]
    # New tokens are signed by the key that remains.
    after = tokens(logged_in, confidential_client)
    assert kid_of(after["access_token"]) == new_kid


def test_the_old_keys_last_tokens_expire_before_it_is_withdrawn(
    app, logged_in, confidential_client, fake_clock
):
    """Nothing that verified yesterday stops verifying while it is still valid: the last token
    signed by the old key expires before the key leaves the JWKS."""
    last = tokens(logged_in, confidential_client)  # signed a moment before the rotation
    rotate(app)
    for token in (last["access_token"], last["id_token"]):
        claims = verify(logged_in, token)
        fake_clock.current = datetime.fromtimestamp(claims["exp"] - 1, UTC)
        verify(logged_in, token)  # still valid, still verifiable
    fake_clock.advance(61 + 1)
    assert kid_of(last["access_token"]) not in published_kids(logged_in)
    with pytest.raises(JoseError):
        verify(logged_in, last["access_token"])


def test_a_refresh_token_outlives_the_key_rotation(app, logged_in, confidential_client, fake_clock):
    """Refresh tokens are opaque (SPEC): a rotation, and the old key's withdrawal, do not end
    them; the new access token is signed by the new key."""
    before = tokens(logged_in, confidential_client)
    new_kid = rotate(app)
    fake_clock.advance(3600)
    response = refresh(logged_in, confidential_client, before["refresh_token"])
    assert response.status_code == 200, response.data
    assert kid_of(response.get_json()["access_token"]) == new_kid
    verify(logged_in, response.get_json()["access_token"])


def test_rotating_twice_keeps_both_older_keys_while_their_tokens_live(
    app, logged_in, confidential_client, fake_clock
):
    first = tokens(logged_in, confidential_client)
    rotate(app)
    fake_clock.advance(100)
    second = tokens(logged_in, confidential_client)
    third_kid = rotate(app)
    for token in (first["access_token"], second["access_token"], second["id_token"]):
        verify(logged_in, token)
    fake_clock.advance(661)
    assert published_kids(logged_in) == [third_kid]
