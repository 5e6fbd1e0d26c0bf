"""The OpenID Connect client: Authlib's Flask client, configured by discovery.

Everything here goes to the authorization server over HTTP, through its published endpoints:
discovery, authorization (with state, nonce and PKCE S256), token, UserInfo, revocation and
end-session. Tokens are kept server-side in :class:`~.models.SignIn` rows.
"""

from __future__ import annotations

from typing import Any

import requests
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth, OAuthError
from flask import Flask, current_app

PROVIDER = "authserver"


class RefreshFailed(Exception):
    """The refresh token no longer works: the grant was revoked, expired or rotated away."""


def configure_session(session: requests.Session) -> requests.Session:
    """Apply the app's test hook (a transport adapter, say) to a new HTTP session."""
    hook = current_app.config["HTTP_SESSION_HOOK"]
    if hook is not None:
        hook(session)
    return session


class DemoOAuthApp(FlaskOAuth2App):
    """Authlib's Flask client, with every HTTP session it makes passed through the hook."""

    def _get_session(self):
        return configure_session(super()._get_session())

    def _get_oauth_client(self, **metadata: Any):
        return configure_session(super()._get_oauth_client(**metadata))


def init_oauth(app: Flask) -> None:
    # One registry per app, so two apps in one process (tests) never share clients or metadata.
    oauth = OAuth(app)
    oauth.register(
        PROVIDER,
        client_cls=DemoOAuthApp,
        client_id=app.config["CLIENT_ID"],
        client_secret=app.config["CLIENT_SECRET"],
        server_metadata_url=f"{app.config['ISSUER']}/.well-known/openid-configuration",
        client_kwargs={
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            "revocation_endpoint_auth_method": "client_secret_basic",
            "default_timeout": app.config["HTTP_TIMEOUT"],
            # No "scope" here: Authlib would send it with every refresh, and asking for more
            # than the person granted is invalid_scope. The scope goes with the authorize call.
        },
    )


def provider() -> DemoOAuthApp:
    return current_app.extensions["authlib.integrations.flask_client"].create_client(PROVIDER)


def metadata() -> dict:
    return provider().load_server_metadata()


def refresh(refresh_token: str) -> dict:
    """A new token response for ``refresh_token``; raises RefreshFailed if the grant is gone.

    The server rotates refresh tokens at every use: the answer carries the successor, which
    the caller must store in place of the old one.
    """
    try:
        return provider().fetch_access_token(
            grant_type="refresh_token", refresh_token=refresh_token
        )
    except OAuthError as error:
        if error.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
            raise RefreshFailed(error.error) from error
        raise


def revoke(token: str, token_type_hint: str) -> bool:
    """RFC 7009; True when the server confirmed. A failure is logged, never shown."""
    endpoint = metadata().get("revocation_endpoint")
    if not endpoint:
        return False
    app = provider()
    try:
        with app._get_oauth_client(**metadata()) as client:
            response = client.revoke_token(endpoint, token=token, token_type_hint=token_type_hint)
    except requests.RequestException:
        current_app.logger.warning("Token revocation failed: server unreachable")
        return False
    if response.status_code != 200:
        current_app.logger.warning("Token revocation failed: HTTP %s", response.status_code)
        return False
    return True
