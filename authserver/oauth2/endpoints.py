"""RFC 7009 revocation, RFC 7662 introspection and OIDC RP-initiated logout."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import rfc8628
from authlib.oauth2.rfc6749 import (
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    UnsupportedTokenTypeError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import current_app
from flask import request as flask_request

from .. import clock, policy
from ..models import AccessToken, Client, RefreshToken, TokenFamily, User
from ..scopes import scope_list
from ..security.secrets import new_secret
from ..services import audit, devices, resources, tokens
from .errors import InvalidTargetError


class _FoundToken(ABC):
    """What an access and a refresh token found by their value share, as the endpoints see
    them (the token of Authlib's revocation and introspection endpoints)."""

    kind: ClassVar[str]  # its token_type_hint name (RFC 7009 §2.1)

    @property
    @abstractmethod
    def family(self) -> TokenFamily | None: ...

    @property
    @abstractmethod
    def client(self) -> Client: ...

    @property
    @abstractmethod
    def user(self) -> User | None: ...

    @property
    @abstractmethod
    def expires_at(self) -> datetime: ...

    @abstractmethod
    def used(self) -> bool:
        """Revoked (an access token) or exchanged (a refresh token), by itself."""

    def check_client(self, client: Client) -> bool:
        return self.client.id == client.id

    def is_expired(self) -> bool:
        return self.expires_at <= clock.now()

    def is_revoked(self) -> bool:
        # A disabled person's or client's tokens count as revoked, including any issued while
        # the account or client was being disabled.
        if not tokens.parties_enabled(self.client, self.user):
            return True
        if self.family is not None and self.family.revoked_at is not None:
            return True
        return self.used()


@dataclass(frozen=True)
class FoundAccessToken(_FoundToken):
    record: AccessToken
    kind: ClassVar[str] = "access_token"

    @property
    def family(self) -> TokenFamily | None:
        return self.record.family  # None for a client's own (client_credentials) token

    @property
    def client(self) -> Client:
        return self.record.client

    @property
    def user(self) -> User | None:
        return self.record.user

    @property
    def expires_at(self) -> datetime:
        return self.record.expires_at

    def used(self) -> bool:
        return self.record.revoked_at is not None


@dataclass(frozen=True)
class FoundRefreshToken(_FoundToken):
    record: RefreshToken
    kind: ClassVar[str] = "refresh_token"

    @property
    def family(self) -> TokenFamily:
        return self.record.family

    @property
    def client(self) -> Client:
        return self.record.family.client

    @property
    def user(self) -> User | None:
        return self.record.family.user

    @property
    def expires_at(self) -> datetime:
        return self.record.expires_at

    def used(self) -> bool:
        return self.record.rotated_at is not None


FoundToken = FoundAccessToken | FoundRefreshToken


@dataclass(frozen=True)
class IntrospectedAccessToken:
    """An access token as introspection reads it: plain facts from one query, no ORM objects
    (``tokens.access_token_facts``), since introspection only reads."""

    facts: tokens.AccessTokenFacts

    def check_client(self, client: Client) -> bool:
        return self.facts.client_pk == client.id

    def is_expired(self) -> bool:
        return self.facts.expires_at <= clock.now()

    def is_revoked(self) -> bool:
        return not self.facts.live


def find_token(value: str, hint: str | None) -> FoundToken | None:
    """The token by its shape: a JWT is one of our access tokens or nothing, anything else can
    only be a refresh token (so the hint, RFC 7009 §2.1, is never needed to find it)."""
    if value.count(".") == 2:
        record = tokens.find_access_token(value)
        return FoundAccessToken(record) if record else None
    refresh = tokens.find_refresh_token(value)
    return FoundRefreshToken(refresh) if refresh else None


class UnsupportedTokenType(UnsupportedTokenTypeError):
    """RFC 7009 §2.2.1 answers with the RFC 6749 §5.2 shape, which is 400 (Authlib says 401)."""

    status_code = 400


def check_token_params(endpoint, request) -> None:
    if "token" not in request.form:
        raise InvalidRequestError("Missing 'token' in request.")
    hint = request.form.get("token_type_hint")
    if hint and hint not in endpoint.SUPPORTED_TOKEN_TYPES:
        raise UnsupportedTokenType(f"Tokens of type {hint!r} are not known here.")


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = policy.auth_methods("revocation")

    def check_params(self, request, client) -> None:
        check_token_params(self, request)

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: FoundToken, request) -> None:
        user = token.user
        audit.record(
            "token.revoked",
            user_id=user.id if user is not None else None,
            client_id=token.client.client_id,
            actor=f"client:{token.client.client_id}",
            address=flask_request.remote_addr,
            token_type=token.kind,
        )
        if isinstance(token, FoundRefreshToken):
            # RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens
            # issued with the same grant: the whole family.
            tokens.revoke_family(token.family)
        elif token.record.revoked_at is None:
            token.record.revoked_at = clock.now()


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = policy.auth_methods("introspection")

    def check_params(self, request, client) -> None:
        check_token_params(self, request)

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> IntrospectedAccessToken | FoundRefreshToken | None:
        # The token's shape picks the lookup, as in find_token.
        if token_string.count(".") == 2:
            facts = tokens.access_token_facts(token_string)
            return IntrospectedAccessToken(facts) if facts else None
        refresh = tokens.find_refresh_token(token_string)
        return FoundRefreshToken(refresh) if refresh else None

    def check_permission(
        self, token: IntrospectedAccessToken | FoundRefreshToken, client: Client, request
    ) -> bool:
        # A client learns only about its own tokens, unless it is a registered resource server
        # (RFC 7662 §4: the server must not let clients probe other clients' tokens).
        return token.check_client(client) or client.can_introspect_any

    def introspect_token(self, token: IntrospectedAccessToken | FoundRefreshToken) -> dict:
        if isinstance(token, IntrospectedAccessToken):
            return self._introspect_access_token(token.facts)
        client, user, refresh = token.client, token.user, token.record
        return _with_username(
            {
                "active": True,
                "client_id": client.client_id,
                "iss": current_app.config["ISSUER"],
                "sub": user.subject if user is not None else client.client_id,
                "token_type": "refresh_token",
                "scope": token.family.scope,
                "iat": int(refresh.created_at.timestamp()),
                "exp": int(refresh.expires_at.timestamp()),
            },
            user.email if user is not None else None,
        )

    def _introspect_access_token(self, facts: tokens.AccessTokenFacts) -> dict:
        # RFC 9449 §6.2: a DPoP-bound token says so, with the key's thumbprint.
        bound = {"cnf": {"jkt": facts.jkt}} if facts.jkt is not None else {}
        return _with_username(
            bound
            | {
                "active": True,
                "client_id": facts.client_id,
                "iss": current_app.config["ISSUER"],
                "sub": facts.subject,
                "token_type": policy.access_token_type(facts.jkt),
                "scope": facts.scope,
                "aud": policy.audience_claim(facts.audience.split()),
                "jti": facts.jti,
                "iat": int(facts.issued_at.timestamp()),
                "exp": int(facts.expires_at.timestamp()),
            },
            facts.email,
        )


def _with_username(body: dict, email: str | None) -> dict:
    if email is not None and "email" in scope_list(body["scope"]):
        # Only a token the person granted ``email`` names them by their address (OIDC Core
        # §5.4; the consent page promises nothing of it leaves otherwise).
        body["username"] = email
    return body


class EndSessionEndpoint(_EndSessionEndpoint):
    """OpenID Connect RP-Initiated Logout 1.0."""

    # Authlib has no hook for what a hint must claim (typ, iss, aud), and it lets non-Jose
    # decoding errors escape as 500s; so the whole check is ours.
    def _validate_id_token_hint(self, id_token_hint: str) -> dict:
        claims = tokens.decode_id_token_hint(id_token_hint, allow_expired=True)
        if claims is None:
            raise InvalidRequestError("The id_token_hint is not an ID token issued here.")
        return claims

    def end_session(self, end_session_request) -> None:
        # Ending the browser session is the view's job (it owns the session and the choice
        # to revoke tokens); nothing server-wide happens here.
        return None


class DeviceAuthorizationEndpoint(rfc8628.DeviceAuthorizationEndpoint):
    """RFC 8628 §3.1-3.2: a device asks for a device code and a user code."""

    CLIENT_AUTH_METHODS = policy.auth_methods("device_authorization")
    EXPIRES_IN = policy.DEVICE_CODE_TTL
    INTERVAL = policy.DEVICE_POLL_INTERVAL

    # Authlib checks neither the client's grant types nor its registered scope here, and its
    # ``save_device_credential`` hook gets no request to read RFC 8707's ``resource`` from:
    # the same steps as Authlib's, with those checks, before anything is kept.
    def create_endpoint_response(self, request):
        client = self.authenticate_client(request)
        if not client.check_grant_type(policy.DEVICE_CODE_GRANT):
            raise UnauthorizedClientError("The client is not registered for the device grant.")
        scope = request.payload.scope
        self.server.validate_requested_scope(scope)
        if not scope or client.get_allowed_scope(scope) is None:
            raise InvalidScopeError("Ask for scopes the client registered.")
        requested = request.payload.data.getlist("resource")
        problem = policy.resource_problem(requested)
        if problem or resources.unknown(requested):
            raise InvalidTargetError(problem or "The requested resource is not known.")
        device_code, user_code = self.generate_device_code(), devices.new_user_code()
        devices.start(client, device_code, user_code, scope, list(dict.fromkeys(requested)))
        shown = policy.format_user_code(user_code)
        verification_uri = self.get_verification_uri()
        data = {
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": verification_uri,
            "verification_uri_complete": add_params_to_uri(
                verification_uri, [("user_code", shown)]
            ),
            "expires_in": self.EXPIRES_IN,
            "interval": self.INTERVAL,
        }
        return 200, data, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]

    def generate_device_code(self) -> str:
        return new_secret(32)

    def get_verification_uri(self) -> str:
        return f"{current_app.config['ISSUER']}/device"
