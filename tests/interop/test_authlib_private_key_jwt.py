"""Authlib's own client authenticating with private_key_jwt and client_secret_jwt
(``authlib.oauth2.rfc7523.PrivateKeyJWT`` / ``ClientSecretJWT`` on its requests
``OAuth2Session``): the assertions a third-party library makes are accepted as they come."""

from __future__ import annotations

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from joserfc.jwk import RSAKey

from authserver.extensions import db
from authserver.services import clients
from tests.wsgi_transport import session_for

ISSUER = "http://127.0.0.1:5000"


def _register(app, method: str, **fields) -> tuple[str, str | None]:
    with app.app_context():
        client, secret = clients.create_client(
            name="Machine",
            redirect_uris=[],
            scope="events:read",
            grant_types=["client_credentials"],
            auth_method=method,
            **fields,
        )
        db.session.commit()
        return client.client_id, secret


def test_authlib_private_key_jwt_client_gets_and_introspects_a_token(app) -> None:
    key = RSAKey.generate_key(2048, {"kid": "k1"})
    client_id, _ = _register(app, "private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})
    metadata = session_for(app).get(f"{ISSUER}/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    session = OAuth2Session(
        client_id,
        key.as_pem(private=True).decode(),
        token_endpoint_auth_method=PrivateKeyJWT(metadata["token_endpoint"], alg="RS256"),
        scope="events:read",
    )
    session_for(app, session)
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    # A second request makes a fresh assertion (a new jti), which is accepted too.
    again = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert again["access_token"] != token["access_token"]


def test_authlib_client_secret_jwt_client_gets_a_token(app) -> None:
    client_id, secret = _register(app, "client_secret_jwt")
    session = OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method=ClientSecretJWT(f"{ISSUER}/oauth/token"),
        scope="events:read",
    )
    session_for(app, session)
    token = session.fetch_token(f"{ISSUER}/oauth/token", grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
