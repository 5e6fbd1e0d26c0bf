"""The grant types, as Authlib grants whose storage steps call our services."""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import current_app

from ..extensions import db
from ..models import AuthorizationCode, Client
from ..services import codes, tokens
from ..services.clients import find_client
from .scopes import client_credentials_scope, join_scopes, scope_list


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def create_authorization_response(self, redirect_uri: str, grant_user):  # noqa: ANN001, ANN201
        if not grant_user:
            raise AccessDeniedError(redirect_uri=redirect_uri)
        request = self.request
        request.user = grant_user
        payload = request.payload.data
        # Set by the authorization view: what the user granted and how they logged in.
        context = request.authorization_context
        code = codes.create_code(
            client=request.client,
            user=grant_user,
            redirect_uri=redirect_uri,
            redirect_uri_given=bool(request.payload.redirect_uri),
            scope=context["granted_scope"],
            ttl=int(current_app.config["CODE_TTL"]),
            auth_time=context["auth_time"],
            nonce=payload.get("nonce"),
            code_challenge=payload.get("code_challenge"),
            code_challenge_method=payload.get("code_challenge_method"),
            session_id=context.get("session_id"),
        )
        params = [("code", code)]
        if request.payload.state:
            params.append(("state", request.payload.state))
        return 302, "", [("Location", add_params_to_uri(redirect_uri, params))]

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        found = codes.find_code(code, client)
        if found is None:
            return None
        if found.redeemed_at is not None:
            # RFC 6749 §4.1.2: deny, and revoke the tokens issued from the first redemption.
            tokens.revoke_families_of_code(found)
            db.session.commit()
            raise InvalidGrantError("The authorization code has already been used.")
        if codes.is_expired(found):
            raise InvalidGrantError("The authorization code has expired.")
        return found

    @hooked
    def create_token_response(self):  # noqa: ANN201
        client = self.request.client
        code = self.request.authorization_code
        if not codes.claim_code(code):
            # A concurrent redemption won the race: that one is the first, this is the replay.
            tokens.revoke_families_of_code(code)
            db.session.commit()
            raise InvalidGrantError("The authorization code has already been used.")
        self.request.user = code.user
        family = tokens.start_family(client, code.user, code.scope, code)
        token = tokens.token_response(
            family,
            code.scope,
            include_refresh_token=tokens.refresh_token_allowed(client, code.scope),
        )
        self.request.token_family = family
        db.session.commit()
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def authenticate_user(self, authorization_code: AuthorizationCode):  # noqa: ANN201
        return authorization_code.user


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def _validate_request_token(self, client: Client):  # noqa: ANN202
        value = self.request.form.get("refresh_token")
        if not value:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        token = tokens.find_refresh_token(value)
        if token is None or token.family.client_id != client.id:
            raise InvalidGrantError("The refresh token is not valid.")
        if token.rotated_at is not None:
            # RFC 9700 §4.14.2: a rotated token came back, so one of two holders is an
            # attacker; revoke the whole family so neither can go on.
            tokens.revoke_family(token.family)
            db.session.commit()
            raise InvalidGrantError("The refresh token was already used; its grant is revoked.")
        if not tokens.refresh_token_usable(token):
            raise InvalidGrantError("The refresh token has expired or was revoked.")
        return token

    def _validate_token_scope(self, token) -> None:  # noqa: ANN001
        requested = scope_list(self.request.payload.scope)
        if not set(requested) <= set(scope_list(token.family.scope)):
            raise InvalidScopeError("A refresh may narrow the granted scope, never widen it.")

    @hooked
    def create_token_response(self):  # noqa: ANN201
        token = self.request.refresh_token
        family = token.family
        requested = scope_list(self.request.payload.scope) or scope_list(family.scope)
        # A scope the developer has since removed from the client is not issued any more.
        scope = join_scopes(set(requested) & set(scope_list(self.request.client.scope)))
        if not scope:
            raise InvalidScopeError("The client may no longer request any of the granted scope.")
        if not tokens.claim_refresh_token(token):
            # Lost a race with another use of the same token: that is reuse, too.
            tokens.revoke_family(family)
            db.session.commit()
            raise InvalidGrantError("The refresh token was already used; its grant is revoked.")
        self.request.user = family.user
        response = tokens.token_response(family, scope, include_refresh_token=True)
        db.session.commit()
        return 200, response, self.TOKEN_RESPONSE_HEADER

    def authenticate_user(self, refresh_token):  # noqa: ANN001, ANN201
        return refresh_token.family.user


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    @hooked
    def create_token_response(self):  # noqa: ANN201
        client = self.request.client
        scope = client_credentials_scope(client.scope, self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError("The client may not request that scope for itself.")
        family = tokens.start_family(client, None, scope)
        response = tokens.token_response(family, scope, include_refresh_token=False)
        db.session.commit()
        return 200, response, self.TOKEN_RESPONSE_HEADER


class S256CodeChallenge(CodeChallenge):
    """PKCE per SPEC: ``S256`` only, required of public clients (RFC 7636, RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant, redirect_uri) -> None:  # noqa: ANN001
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if grant.request.client.is_public and not challenge:
            raise InvalidRequestError("A public client must use PKCE ('code_challenge', S256).")
        if challenge and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


def query_client(client_id: str) -> Client | None:
    return find_client(client_id)
