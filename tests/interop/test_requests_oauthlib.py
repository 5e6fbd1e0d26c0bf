"""Complete flows driven by requests-oauthlib, a third-party client, with no special-casing.

requests-oauthlib knows OAuth 2.0 but not OpenID Connect, so the OpenID parts a relying party
must do itself (Core §3.1.3.7 ID token validation, RFC 9207's iss check) are done here with
joserfc's generic JWT claim rules, independently of Authlib.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from authserver.extensions import db
from authserver.services.clients import create_client
from tests import factories
from tests.factories import ClientInfo
from tests.helpers import consent, decode_jwt, query_of
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
        scope=["openid", "profile", "offline_access", "events:read"],
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
    assert token["scope"] == ["openid", "profile", "offline_access", "events:read"]
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


# --- OpenID Connect on top of requests-oauthlib --------------------------------------------------


def discover(oauth: OAuth2Session) -> dict:
    response = oauth.get(f"{ISSUER}/.well-known/openid-configuration", withhold_token=True)
    response.raise_for_status()
    metadata = response.json()
    assert metadata["issuer"] == ISSUER  # Discovery §4.3
    return metadata


def validate_id_token(oauth: OAuth2Session, metadata: dict, token: dict, nonce: str) -> dict:
    """OpenID Connect Core §3.1.3.7, step by step, with joserfc's claim registry."""
    jwks = oauth.get(metadata["jwks_uri"], withhold_token=True).json()
    decoded = jwt.decode(
        token["id_token"],
        KeySet.import_key_set(jwks),
        algorithms=metadata["id_token_signing_alg_values_supported"],  # (6)-(7)
    )
    claims = dict(decoded.claims)
    jwt.JWTClaimsRegistry(
        now=int(time.time()),
        leeway=60,
        iss={"essential": True, "value": metadata["issuer"]},  # (2)
        aud={"essential": True, "value": oauth.client_id},  # (3)
        azp={"essential": False, "value": oauth.client_id},  # (5)
        exp={"essential": True},  # (9)
        iat={"essential": True},  # (10)
        nonce={"essential": True, "value": nonce},  # (11)
        sub={"essential": True},
    ).validate(claims)
    # §3.1.3.8: at_hash is the left half of SHA-256 of the access token, base64url.
    digest = hashlib.sha256(token["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"]
    return claims


@pytest.fixture
def oidc_client(app) -> ClientInfo:
    with app.app_context():
        client, secret = create_client(
            name="requests-oauthlib RP",
            redirect_uris=[factories.REDIRECT_URI],
            scope=factories.ALL_SCOPES,
        )
        db.session.commit()
        return ClientInfo(client.id, client.client_id, secret, factories.REDIRECT_URI, "")


def test_openid_connect_flow_with_requests_oauthlib(app, logged_in, user, oidc_client):
    """discovery → authorize (PKCE S256, state, nonce) → token → id_token validation → userinfo
    (GET and POST) → refresh → revoke → introspect."""
    oauth = OAuth2Session(
        oidc_client.client_id,
        redirect_uri=oidc_client.redirect_uri,
        scope=["openid", "profile", "email", "offline_access"],
        pkce="S256",
    )
    session_for(app, oauth)
    metadata = discover(oauth)
    nonce = "rq-" + secrets.token_urlsafe(16)
    url, state = oauth.authorization_url(metadata["authorization_endpoint"], nonce=nonce)
    callback = consent(logged_in, url.removeprefix(ISSUER)).headers["Location"]
    assert query_of(callback)["iss"] == metadata["issuer"]  # RFC 9207 §2.4
    assert query_of(callback)["state"] == state

    basic = HTTPBasicAuth(oidc_client.client_id, oidc_client.secret)
    token = oauth.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, auth=basic
    )
    claims = validate_id_token(oauth, metadata, token, nonce)
    assert claims["sub"] == user.subject

    for method in ("GET", "POST"):
        info = oauth.request(method, metadata["userinfo_endpoint"])
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == claims["sub"]  # Core §5.3.2
        assert info.json()["email"] == user.email

    refreshed = oauth.refresh_token(metadata["token_endpoint"], auth=basic)
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert oauth.get(metadata["userinfo_endpoint"]).json()["sub"] == user.subject

    def introspect(value: str) -> dict:
        response = oauth.post(
            metadata["introspection_endpoint"],
            data={"token": value},
            auth=basic,
            withhold_token=True,
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert introspect(refreshed["access_token"])["active"] is True
    revoked = oauth.post(
        metadata["revocation_endpoint"],
        data={"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"},
        auth=basic,
        withhold_token=True,
    )
    assert revoked.status_code == 200, revoked.text
    assert introspect(refreshed["refresh_token"]) == {"active": False}
    assert introspect(refreshed["access_token"]) == {"active": False}
    assert oauth.get(metadata["userinfo_endpoint"]).status_code == 401


def test_public_client_flow_with_requests_oauthlib(app, logged_in, user, public_client):
    """A public client: client_id in the body, no secret, PKCE (RFC 7636, SPEC)."""
    oauth = OAuth2Session(
        public_client.client_id,
        redirect_uri=public_client.redirect_uri,
        scope=["openid", "offline_access"],
        pkce="S256",
    )
    session_for(app, oauth)
    metadata = discover(oauth)
    url, _ = oauth.authorization_url(metadata["authorization_endpoint"], nonce="pub-n")
    callback = consent(logged_in, url.removeprefix(ISSUER)).headers["Location"]
    token = oauth.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, include_client_id=True
    )
    assert validate_id_token(oauth, metadata, token, "pub-n")["sub"] == user.subject
    refreshed = oauth.refresh_token(metadata["token_endpoint"], client_id=public_client.client_id)
    revoked = oauth.post(
        metadata["revocation_endpoint"],
        data={"token": refreshed["refresh_token"], "client_id": public_client.client_id},
        withhold_token=True,
    )
    assert revoked.status_code == 200


def test_requests_oauthlib_reports_a_wrong_secret_as_invalid_client(
    app, logged_in, confidential_client
):
    from oauthlib.oauth2.rfc6749.errors import InvalidClientError

    oauth = OAuth2Session(
        confidential_client.client_id,
        redirect_uri=confidential_client.redirect_uri,
        scope=["openid"],
        pkce="S256",
    )
    session_for(app, oauth)
    url, _ = oauth.authorization_url(f"{ISSUER}/oauth/authorize")
    callback = consent(logged_in, url.removeprefix(ISSUER)).headers["Location"]
    with pytest.raises(InvalidClientError):
        oauth.fetch_token(
            f"{ISSUER}/oauth/token", authorization_response=callback, client_secret="wrong"
        )


def test_requests_oauthlib_reports_unsupported_grant_type(app, confidential_client):
    """RFC 6749 §5.2 unsupported_grant_type: the password grant is not offered."""
    from oauthlib.oauth2 import LegacyApplicationClient
    from oauthlib.oauth2.rfc6749.errors import UnsupportedGrantTypeError

    oauth = OAuth2Session(client=LegacyApplicationClient(client_id=confidential_client.client_id))
    session_for(app, oauth)
    with pytest.raises(UnsupportedGrantTypeError):
        oauth.fetch_token(
            f"{ISSUER}/oauth/token",
            username="user@example.com",
            password="pw",
            auth=HTTPBasicAuth(confidential_client.client_id, confidential_client.secret),
        )


def test_requests_oauthlib_reports_invalid_scope_on_refresh(app, logged_in, confidential_client):
    """RFC 6749 §6: a refresh may not widen the scope — invalid_scope."""
    from oauthlib.oauth2.rfc6749.errors import InvalidScopeError

    oauth = OAuth2Session(
        confidential_client.client_id,
        redirect_uri=confidential_client.redirect_uri,
        scope=["openid", "offline_access"],
        pkce="S256",
    )
    session_for(app, oauth)
    url, _ = oauth.authorization_url(f"{ISSUER}/oauth/authorize")
    callback = consent(logged_in, url.removeprefix(ISSUER)).headers["Location"]
    basic = HTTPBasicAuth(confidential_client.client_id, confidential_client.secret)
    oauth.fetch_token(f"{ISSUER}/oauth/token", authorization_response=callback, auth=basic)
    oauth.scope = ["openid", "events:write"]
    with pytest.raises(InvalidScopeError):
        oauth.refresh_token(f"{ISSUER}/oauth/token", auth=basic)
