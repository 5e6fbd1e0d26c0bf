"""OAuth 2.0 and OpenID Connect wiring: every grant, extension and endpoint in one list."""

from __future__ import annotations

from flask import Flask, current_app

from .. import policy
from ..scopes import CATALOGUE
from .client_assertion import ClientSecretJWT, PrivateKeyJWT
from .dpop import token_extension
from .endpoints import (
    DeviceAuthorizationEndpoint,
    EndSessionEndpoint,
    IntrospectionEndpoint,
    RevocationEndpoint,
)
from .grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    DeviceCodeGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
    TokenExchangeGrant,
)
from .oidc import OpenIDCode
from .par import PushedAuthorizationEndpoint
from .registration import ClientConfigurationEndpoint, ClientRegistrationEndpoint
from .server import AuthorizationServer
from .storage import generate_token, query_client, save_token


def init_oauth2(app: Flask) -> None:
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.scopes_supported = list(CATALOGUE)
    server.register_token_generator("default", generate_token)
    server.register_client_auth_method(policy.PRIVATE_KEY_JWT, PrivateKeyJWT())
    server.register_client_auth_method(policy.CLIENT_SECRET_JWT, ClientSecretJWT())

    # RFC 9449: each grant's token request checks its DPoP proof on Authlib's hook.
    server.register_grant(
        AuthorizationCodeGrant,
        [S256CodeChallenge(required=True), OpenIDCode(require_nonce=False), token_extension],
    )
    server.register_grant(RefreshTokenGrant, [token_extension])
    server.register_grant(ClientCredentialsGrant, [token_extension])
    server.register_grant(DeviceCodeGrant, [token_extension])
    server.register_grant(TokenExchangeGrant)

    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    server.register_endpoint(DeviceAuthorizationEndpoint)
    server.register_endpoint(PushedAuthorizationEndpoint)
    server.register_endpoint(ClientRegistrationEndpoint)
    server.register_endpoint(ClientConfigurationEndpoint)
    app.extensions["authorization_server"] = server


def authorization_server() -> AuthorizationServer:
    return current_app.extensions["authorization_server"]
