"""OAuth 2.0 and OpenID Connect wiring: every grant, extension and endpoint in one list."""

from __future__ import annotations

from flask import Flask, current_app

from .server import AuthorizationServer, supported_scopes


def init_oauth2(app: Flask) -> None:
    from .grants import (
        AuthorizationCodeGrant,
        ClientCredentialsGrant,
        RefreshTokenGrant,
        S256CodeChallenge,
        query_client,
    )

    server = AuthorizationServer(app, query_client=query_client)
    server.scopes_supported = supported_scopes()
    from .oidc import OpenIDCode

    server.register_grant(
        AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode(require_nonce=False)]
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    from .endpoints import EndSessionEndpoint, IntrospectionEndpoint, RevocationEndpoint

    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)

    from .registration import ClientConfigurationEndpoint, ClientRegistrationEndpoint

    server.register_endpoint(ClientRegistrationEndpoint)
    server.register_endpoint(ClientConfigurationEndpoint)
    app.extensions["authorization_server"] = server


def authorization_server() -> AuthorizationServer:
    return current_app.extensions["authorization_server"]
