"""The grant types: Authlib's grants, with their documented storage methods answered by the
services and ``policy``. Token generation and saving live in ``storage.py``."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import current_app
from flask import request as flask_request

from .. import metrics, policy
from ..models import AuthorizationCode, Client, RefreshToken
from ..security.secrets import new_secret
from ..services import audit, codes, tokens
from ..services.codes import Redeemed
from ..services.tokens import Presented
from .errors import refused
from .storage import Grantor, access_token_id, record_issued


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = policy.auth_methods("authorization_code")

    def generate_authorization_code(self) -> str:
        return new_secret(32)  # SPEC: at least 128 bits; 256 here

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        grantor: Grantor = request.user
        if grantor.auth_time is None:  # issue_code's grantor: logged in, in this session
            raise RuntimeError("an authorization code needs the time its person logged in")
        data = request.payload.data
        codes.create_code(
            client=request.client,
            user=grantor.user,
            code=code,
            redirect_uri=request.payload.redirect_uri or request.client.get_default_redirect_uri(),
            redirect_uri_given=bool(request.payload.redirect_uri),
            scope=grantor.granted_scope,
            ttl=policy.lifetimes(current_app.config).code,
            auth_time=grantor.auth_time,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            session_id=grantor.session_id,
            amr=" ".join(grantor.amr) if grantor.amr else None,
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """The code, claimed for this redemption in the same transaction as the tokens it buys
        (``codes.redeem``); a code redeemed before revokes what its first redemption issued."""
        outcome, found = codes.redeem(code, client)
        if found is None:  # Redeemed.UNKNOWN, the one outcome without a code
            raise refused(
                InvalidGrantError("Invalid 'code' in request."),
                "unknown authorization code (never issued, or to another client)",
            )
        if outcome is Redeemed.CLAIMED:
            return found
        if outcome is Redeemed.EXPIRED:
            raise refused(
                InvalidGrantError("The authorization code has expired."),
                "authorization code expired",
            )
        if outcome is Redeemed.WITHDRAWN:
            raise refused(
                InvalidGrantError("The authorization code was withdrawn."),
                "authorization code withdrawn before it was redeemed (the person removed "
                "access, took a scope back or logged out with disconnect, or the account or "
                "client was disabled)",
            )
        metrics.reuse_detected("authorization_code")
        tokens.end_compromised_grant(
            tokens.families_of_code(found),
            reason="authorization code reused",
            address=flask_request.remote_addr,
        )
        raise refused(
            InvalidGrantError("The authorization code has already been used."),
            "authorization code reused (what it issued is revoked)",
        )

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept (already marked redeemed) so that a replay can be recognised and answered.
        return None

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Grantor:
        return Grantor(
            user=authorization_code.user,
            granted_scope=authorization_code.scope,
            auth_time=authorization_code.auth_time,
            session_id=authorization_code.session_id,
        )

    # Authlib's one server-wide ``save_token`` has no hook per grant: a redeemed code starts
    # the grant (the family) every later token descends from, recorded once in the audit.
    def save_token(self, token: dict) -> None:
        code: AuthorizationCode = self.request.authorization_code
        client, person = self.request.client, code.user
        family = tokens.start_family(
            client, person, code.scope, code, code.auth_time, code.session_id
        )
        record_issued(token, client, person, family)
        # Identifiers only: the jti names the first token without being usable as it.
        # Refreshes and client_credentials tokens are recorded by their access_tokens row
        # alone, so the machine path stays one INSERT (docs/architecture.md, "Performance choices").
        audit.record(
            "token.issued",
            user_id=person.id,
            client_id=client.client_id,
            actor=f"client:{client.client_id}",
            address=flask_request.remote_addr,
            grant_type="authorization_code",
            scope=token["scope"],
            jti=access_token_id(token),
            refresh_token="refresh_token" in token,
        )


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = policy.auth_methods("refresh_token")
    #: Refresh tokens rotate at every use (RFC 9700 §4.14.2); the policy still decides.
    INCLUDE_NEW_REFRESH_TOKEN = True
    #: Set for a retry within the window: the answer the first exchange gave.
    retry_answer: dict | None = None

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        if not refresh_token:
            # Authlib only catches an absent parameter; an empty one is just as missing.
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        life = policy.lifetimes(current_app.config)
        presented = tokens.present_refresh_token(refresh_token, self.request.client, life)
        outcome = presented.outcome
        if outcome is Presented.UNKNOWN:
            return None
        if outcome is Presented.ROTATE:
            return presented.token
        if outcome is Presented.RETRY:
            self.retry_answer = presented.retry_answer
            return presented.token
        if outcome is Presented.ERASED:
            # The person took a scope back a moment after the first use: refused, but no sign
            # of theft, so the grant lives on.
            raise refused(
                InvalidGrantError("The refresh token was already used."),
                "refresh token sent again within the retry window after the person took a "
                "scope back (the first answer is not repeated)",
            )
        if outcome is Presented.REUSED and presented.token is not None:  # it always has one
            metrics.reuse_detected("refresh_token")
            tokens.end_compromised_grant(
                [presented.token.family],
                reason="refresh token reused",
                address=flask_request.remote_addr,
            )
            raise refused(
                InvalidGrantError("The refresh token was already used; its grant is revoked."),
                "refresh token reused (its grant is revoked)",
            )
        raise refused(
            InvalidGrantError("The refresh token has expired or was revoked."),
            "refresh token expired or revoked",
        )

    def authenticate_user(self, refresh_token: RefreshToken) -> Grantor:
        family = refresh_token.family
        if family.user is None:  # a family is a person's grant (tokens.start_family)
            raise RuntimeError(f"token family {family.id} has no person")
        return Grantor(
            user=family.user,
            granted_scope=family.scope,
            auth_time=family.auth_time,
            session_id=family.session_id,
        )

    # Authlib has no hook for the scope a grant issues: here, what is left of the grant.
    def generate_token(self, user=None, scope=None, include_refresh_token=True, **kwargs) -> dict:
        if self.retry_answer is not None:
            return dict(self.retry_answer)  # the same successor again, not a third pair
        scope = policy.refreshed_scope(user.granted_scope, scope, self.request.client.scope)
        if scope is None:
            raise InvalidScopeError("The client may no longer request any of the granted scope.")
        return super().generate_token(
            user=user, scope=scope, include_refresh_token=include_refresh_token, **kwargs
        )

    # Authlib's one server-wide ``save_token`` has no hook per grant: a refresh adds to the
    # grant it descends from and links the successor to the token it replaces.
    def save_token(self, token: dict) -> None:
        if self.retry_answer is not None:
            return  # everything in that answer was saved the first time
        presented: RefreshToken = self.request.refresh_token
        grantor: Grantor = self.request.user
        successor = record_issued(token, self.request.client, grantor.user, presented.family)
        tokens.record_successor(presented, self.request.form["refresh_token"], successor, token)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        # Already claimed in authenticate_refresh_token, before its successor was made.
        return None


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = policy.auth_methods("client_credentials")

    # Authlib has no hook for the scope a grant issues: here, what the client may have for
    # itself (omitted means all of it, RFC 6749 §3.3).
    def generate_token(self, user=None, scope=None, include_refresh_token=True, **kwargs) -> dict:
        scope = policy.client_credentials_scope(self.request.client.scope, scope)
        if scope is None:
            raise InvalidScopeError("The client may not request that scope for itself.")
        return super().generate_token(user=user, scope=scope, include_refresh_token=False, **kwargs)

    # Authlib's one server-wide ``save_token`` has no hook per grant: no person, no grant.
    def save_token(self, token: dict) -> None:
        record_issued(token, self.request.client, None, None)


class S256CodeChallenge(CodeChallenge):
    """PKCE per SPEC: ``S256`` only, required of public clients (RFC 7636, RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    # Authlib's ``required`` checks public clients only at the token endpoint (a verifier must
    # come); the SPEC refuses their authorization request without a challenge already, and
    # only S256, so this hook adds those rules before Authlib's own checks.
    def validate_code_challenge(self, grant, redirect_uri) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if grant.request.client.is_public and not challenge:
            raise InvalidRequestError("A public client must use PKCE ('code_challenge', S256).")
        if challenge and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)
