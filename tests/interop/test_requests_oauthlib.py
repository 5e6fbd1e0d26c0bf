"""A complete flow driven by requests-oauthlib, a third-party client, with no special-casing."""

from __future__ import annotations

import pytest
from requests_oauthlib import OAuth2Session

from tests.helpers import consent, decode_jwt
from tests.wsgi_transport import session_for

ISSUER = "http://127.0.0.1:5000"


@pytest.fixture(autouse=True)
def _loopback_http_is_fine(monkeypatch):
    # oauthlib refuses plain http; our issuer is a loopback address, which SPEC allows.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def test_code_flow_with_pkce_refresh_and_scope_check(app, logged_in, confidential_client, user):
    oauth = OAuth2Session(
        confidential_client.client_id,
        redirect_uri=confidential_client.redirect_uri,
        scope=["openid", "profile", "events:read"],
        pkce="S256",
    )
    session_for(app, oauth)
    authorization_url, state = oauth.authorization_url(f"{ISSUER}/oauth/authorize")

    # The browser part: the user logs in (already) and consents.
    answer = consent(logged_in, authorization_url.removeprefix(ISSUER))
    callback = answer.headers["Location"]
    assert callback.startswith(confidential_client.redirect_uri)

    token = oauth.fetch_token(
        f"{ISSUER}/oauth/token",
        authorization_response=callback,
        client_secret=confidential_client.secret,
    )
    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["openid", "profile", "events:read"]
    _, claims = decode_jwt(logged_in, token["access_token"])
    assert claims["sub"] == user.subject

    refreshed = oauth.refresh_token(
        f"{ISSUER}/oauth/token",
        client_id=confidential_client.client_id,
        client_secret=confidential_client.secret,
    )
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["access_token"] != token["access_token"]


def test_library_reports_a_replayed_code_as_invalid_grant(app, logged_in, confidential_client):
    from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

    oauth = OAuth2Session(
        confidential_client.client_id,
        redirect_uri=confidential_client.redirect_uri,
        scope=["events:read"],
    )
    session_for(app, oauth)
    authorization_url, _ = oauth.authorization_url(f"{ISSUER}/oauth/authorize")
    callback = consent(logged_in, authorization_url.removeprefix(ISSUER)).headers["Location"]
    oauth.fetch_token(
        f"{ISSUER}/oauth/token",
        authorization_response=callback,
        client_secret=confidential_client.secret,
    )
    with pytest.raises(InvalidGrantError):
        oauth.fetch_token(
            f"{ISSUER}/oauth/token",
            authorization_response=callback,
            client_secret=confidential_client.secret,
        )
