"""The grant types: Authlib's grants, with their documented storage methods answered by the
services and ``policy``. Token generation and saving live in ``storage.py``."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import current_app
from flask import request as flask_request

from .. import metrics, policy
from ..extensions import db
from ..models import AuthorizationCode, Client, RefreshToken
from ..security.secrets import new_secret
from ..services import codes, locks, tokens
from .storage import Grantor

#: A code whose grant was withdrawn before it was redeemed (access removed, a scope taken back,
#: "disconnect", the account or client disabled).
CODE_WITHDRAWN = "The authorization code was withdrawn."


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = policy.auth_methods("authorization_code")

    def generate_authorization_code(self) -> str:
        return new_secret(32)  # SPEC: at least 128 bits; 256 here

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        grantor: Grantor = request.user
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
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """The code, claimed for this redemption in the same transaction as the tokens it buys:
        of two concurrent redemptions exactly one gets past here (RFC 6749 §4.1.2)."""
        found = codes.find_code(code, client)
        if found is None:
            return None
        if found.redeemed_at is None:
            # The person's lock first (``locks``): a removal of access, a disabled account or
            # client that commits before it leaves no code to claim, and one that commits after
            # sees the grant this redemption makes.
            if not locks.lock_for_issuance(found.user_id, client.id).may_issue:
                raise InvalidGrantError(CODE_WITHDRAWN)
            if codes.claim_code(found):
                if codes.is_expired(found):
                    raise InvalidGrantError("The authorization code has expired.")
                return found
            if codes.reread(found) is None:
                raise InvalidGrantError(CODE_WITHDRAWN)  # discarded by a revocation meanwhile
        # Redeemed before, or by a concurrent request a moment ago: deny, and revoke the tokens
        # issued from the first redemption.
        metrics.reuse_detected("authorization_code")
        tokens.end_compromised_grant(
            tokens.families_of_code(found),
            reason="authorization code reused",
            address=flask_request.remote_addr,
        )
        raise InvalidGrantError("The authorization code has already been used.")

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
        token = tokens.find_refresh_token(refresh_token)
        if token is None or not token.check_client(self.request.client):
            return None
        if token.family.user_id is not None:
            # The person's lock first (``locks``), then the token as committed now: a revocation
            # that committed while this waited is seen, one that comes later sees the successor.
            grant = locks.lock_for_issuance(token.family.user_id, self.request.client.id)
            token = tokens.reread_refresh_token(token)
            if token is None or not grant.may_issue:
                raise InvalidGrantError("The refresh token has expired or was revoked.")
        life = policy.lifetimes(current_app.config)
        verdict = tokens.judge(token, life)
        if verdict is policy.RefreshVerdict.ROTATE:
            # Claimed now, in the transaction that will hold its successor: of concurrent uses
            # exactly one gets past here; the others see what it committed and are retries.
            if tokens.claim_refresh_token(token):
                return token
            db.session.refresh(token)
            verdict = tokens.judge(token, life)
        if verdict is policy.RefreshVerdict.RETRY:
            self.retry_answer = tokens.answer_for_retry(token, refresh_token)
            if self.retry_answer is not None:
                return token
            # Erased by the person's decision (a scope taken back) a moment after the first
            # use: refused, but no sign of theft, so the grant lives on.
            raise InvalidGrantError("The refresh token was already used.")
        if verdict is policy.RefreshVerdict.REUSED:
            metrics.reuse_detected("refresh_token")
            tokens.end_compromised_grant(
                [token.family], reason="refresh token reused", address=flask_request.remote_addr
            )
            raise InvalidGrantError("The refresh token was already used; its grant is revoked.")
        raise InvalidGrantError("The refresh token has expired or was revoked.")

    def authenticate_user(self, refresh_token: RefreshToken) -> Grantor:
        family = refresh_token.family
        return Grantor(
            user=family.user,
            granted_scope=family.scope,
            auth_time=family.auth_time,
            session_id=family.session_id,
            retry_answer=self.retry_answer,
        )

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        # Already claimed in authenticate_refresh_token, before its successor was made.
        return None


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = policy.auth_methods("client_credentials")


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
