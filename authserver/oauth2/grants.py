"""The grant types: Authlib's grants, with their documented storage methods answered by the
services and ``policy``. Token generation and saving live in ``storage.py``."""

from __future__ import annotations

from authlib.oauth2 import rfc8628
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import AuthorizationPendingError, SlowDownError
from flask import current_app
from flask import request as flask_request

from .. import metrics, policy
from ..models import AuthorizationCode, Client, DeviceAuthorization, RefreshToken
from ..security.secrets import new_secret
from ..services import audit, codes, devices, exchange, resources, tokens
from ..services.codes import Redeemed
from ..services.tokens import Presented
from .dpop import check_token_request, proof_jkt
from .errors import InvalidTargetError, refused
from .storage import Grantor, access_token_id, generate_token, record_issued


def requested_resources() -> list[str]:
    """The token request's ``resource``s (RFC 8707 §2), or ``invalid_target`` if malformed."""
    requested = flask_request.form.getlist("resource")
    problem = policy.resource_problem(requested)
    if problem:
        raise refused(InvalidTargetError(problem), "malformed resource indicator")
    return requested


def audience_within(granted: list[str]) -> list[str]:
    """The audience of a person's token: what the token request names, within ``granted``."""
    audience = policy.audience_for(requested_resources(), granted)
    if audience is None:
        raise refused(
            InvalidTargetError("The requested resource was not granted."),
            "resource indicator beyond what the person granted",
        )
    return audience


#: Why a code that was issued cannot buy tokens, as its developer reads it: what the server
#: knows happened, and nothing it cannot know.
_VOID_CODE_REASONS = {
    Redeemed.WITHDRAWN: (
        "authorization code withdrawn while it was being redeemed (at that moment the person "
        "removed the app's access or took a scope back)"
    ),
    Redeemed.PERSON_DISABLED: "authorization code void because the person's account is disabled",
    Redeemed.CLIENT_DISABLED: "authorization code void because the operator disabled this client",
}


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = policy.auth_methods("authorization_code")

    # Authlib's per-client hook (``client.get_allowed_scope``) can only answer None, which it
    # turns into a bare invalid_scope; here the refusal names the scopes and the fix.
    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()  # syntax and unknown scopes, server-wide
        problem = policy.scope_refusal(self.request.payload.scope, self.request.client.scope)
        if problem is not None:
            raise refused(InvalidScopeError(problem), _reason(problem))

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
            resources=list(dict.fromkeys(data.getlist("resource"))),
            amr=" ".join(grantor.amr) if grantor.amr else None,
            dpop_jkt=data.get("dpop_jkt"),  # checked by views/authorize.request_error
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """The code, claimed for this redemption in the same transaction as the tokens it buys
        (``codes.redeem``); a code redeemed before revokes what its first redemption issued."""
        outcome, found = codes.redeem(code, client)
        if found is None:  # Redeemed.UNKNOWN, the one outcome without a code
            raise refused(
                InvalidGrantError("Invalid 'code' in request."),
                "unknown authorization code: never issued, issued to another client, or already "
                "deleted (expired and cleaned up, or discarded by the person's revocation)",
            )
        if outcome is Redeemed.CLAIMED:
            return found
        if outcome is Redeemed.EXPIRED:
            raise refused(
                InvalidGrantError("The authorization code has expired."),
                "authorization code expired",
            )
        if outcome in _VOID_CODE_REASONS:
            raise refused(
                InvalidGrantError("The authorization code is no longer valid."),
                _VOID_CODE_REASONS[outcome],
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

    # Authlib has no hook for whom a token is for (RFC 8707): the code's resources, or fewer.
    def generate_token(self, user=None, scope=None, include_refresh_token=True, **kwargs) -> dict:
        granted = resources.granted_or_default(self.request.authorization_code.resources)
        return generate_token(
            self.GRANT_TYPE,
            self.request.client,
            user,
            scope=scope,
            include_refresh_token=include_refresh_token,
            audience=audience_within(granted),
            jkt=proof_jkt(),
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
            client,
            person,
            code.scope,
            code,
            code.auth_time,
            code.session_id,
            code.resources,
            policy.refresh_token_key(client.is_public, proof_jkt()),
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
            pkce=bool(code.code_challenge),  # the console's PKCE hint reads it
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
            # Authlib's answer to None is a bare invalid_grant, which names nothing.
            raise refused(
                InvalidGrantError("The refresh token is not valid for this client."),
                "unknown refresh token: never issued, issued to another client, or deleted "
                "after it expired",
            )
        if outcome is Presented.ROTATE:
            return self._within_grant(presented.token)
        if outcome is Presented.RETRY:
            self.retry_answer = presented.retry_answer
            return self._within_grant(presented.token)
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

    def _within_grant(self, refresh_token: RefreshToken | None) -> RefreshToken | None:
        """RFC 6749 §6: refused when asking for more than was granted, naming what. (Authlib
        checks this after this hook, with a bare invalid_scope; the refusal rolls back.)"""
        if refresh_token is None:
            return None
        self.validate_requested_scope()  # syntax and unknown scopes, before naming any
        wider = policy.wider_than_granted(refresh_token.get_scope(), self.request.payload.scope)
        if wider:
            problem = (
                f"Scope wider than granted: {' '.join(wider)}. A refresh may only narrow the "
                f"grant ({refresh_token.get_scope()}); ask the person again for more."
            )
            raise refused(InvalidScopeError(problem), _reason(problem))
        return refresh_token

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
            problem = (
                "The client may no longer request any of the granted scope: its registration "
                "no longer holds those scopes."
            )
            raise refused(InvalidScopeError(problem), _reason(problem))
        family = self.request.refresh_token.family
        return generate_token(
            self.GRANT_TYPE,
            self.request.client,
            user,
            scope=scope,
            include_refresh_token=include_refresh_token,
            audience=audience_within(resources.granted_or_default(family.resources)),
            jkt=proof_jkt(),
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
        registered = self.request.client.scope
        allowed = policy.client_credentials_scope(registered, scope)
        if allowed is None:
            problem = policy.client_credentials_scope_refusal(registered, scope)
            raise refused(InvalidScopeError(problem), _reason(problem))
        requested = requested_resources()
        if resources.unknown(requested):
            raise refused(
                InvalidTargetError("The requested resource is not known to this server."),
                "unknown resource indicator",
            )
        return generate_token(
            self.GRANT_TYPE,
            self.request.client,
            None,
            scope=allowed,
            include_refresh_token=False,
            audience=list(dict.fromkeys(requested)) or None,
            jkt=proof_jkt(),
        )

    # Authlib's one server-wide ``save_token`` has no hook per grant: no person, no grant.
    def save_token(self, token: dict) -> None:
        record_issued(token, self.request.client, None, None)


def _reason(problem: str) -> str:
    """An invalid_scope's description as the console's activity line ("scope not allowed: ...")."""
    return f"scope not allowed: {problem}"


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


class DeviceCodeGrant(rfc8628.DeviceCodeGrant):
    """RFC 8628 §3.4-3.5: the device polls with its device code; the person's decision on the
    ``/device`` page (``views/device.py``) answers it, once."""

    TOKEN_ENDPOINT_AUTH_METHODS = policy.auth_methods(policy.DEVICE_CODE_GRANT)

    # Authlib reads the credential before it knows the client; keeping the authenticated
    # client here lets a foreign device code be refused as unknown, not merely as mismatched.
    def authenticate_token_endpoint_client(self):
        self.request.client = super().authenticate_token_endpoint_client()
        return self.request.client

    def query_device_credential(self, device_code: str) -> DeviceAuthorization:
        found = devices.find_by_device_code(device_code, self.request.client)
        if found is None:
            raise refused(
                InvalidGrantError("Invalid 'device_code' in request."),
                "unknown device code (never issued, or to another client)",
            )
        return found

    def query_user_grant(self, user_code: str) -> tuple[Grantor | None, bool] | None:
        """None while the person has not answered; else who answered and whether they allowed.
        An allowed authorization is claimed here, once (``devices.redeem``)."""
        found: DeviceAuthorization = self.request.credential_pending
        if found.status == devices.PENDING:
            return None
        if found.status == devices.DENIED or found.user is None:
            return None, False
        outcome = devices.redeem(found)
        if outcome is devices.Redeemed.WITHDRAWN:
            raise refused(
                InvalidGrantError("The authorization was withdrawn."),
                "device authorization withdrawn (the account or client was disabled)",
            )
        if outcome is devices.Redeemed.REUSED:
            raise refused(
                InvalidGrantError("The device code has already been used."),
                "device code reused",
            )
        grantor = Grantor(
            user=found.user,
            granted_scope=found.granted_scope or "",
            auth_time=found.auth_time,
            session_id=found.session_id,
        )
        return grantor, True

    def should_slow_down(self, credential: DeviceAuthorization) -> bool:
        return devices.note_poll(credential)

    # Authlib's flow asks for the user grant by user code only; the authorization it belongs
    # to is the one just read, kept on the request for ``query_user_grant``.
    def validate_device_credential(self, credential: DeviceAuthorization):
        self.request.credential_pending = credential
        if credential.status == devices.PENDING and not credential.is_expired():
            if self.should_slow_down(credential):
                raise SlowDownError()
            raise AuthorizationPendingError()
        return super().validate_device_credential(credential)

    # Authlib has no hook for whom a token is for (RFC 8707): the resources the device asked.
    def generate_token(self, user=None, scope=None, include_refresh_token=True, **kwargs) -> dict:
        found: DeviceAuthorization = self.request.credential
        return generate_token(
            self.GRANT_TYPE,
            self.request.client,
            user,
            scope=scope,
            include_refresh_token=include_refresh_token,
            audience=audience_within(resources.granted_or_default(found.resources)),
            jkt=proof_jkt(),
        )

    # Authlib's one server-wide ``save_token`` has no hook per grant: an answered device
    # authorization starts a grant (a family), as a redeemed code does.
    def save_token(self, token: dict) -> None:
        found: DeviceAuthorization = self.request.credential
        grantor: Grantor = self.request.user
        client = self.request.client
        family = tokens.start_family(
            client,
            grantor.user,
            grantor.granted_scope,
            None,
            grantor.auth_time,
            grantor.session_id,
            found.resources,
            policy.refresh_token_key(client.is_public, proof_jkt()),
        )
        record_issued(token, client, grantor.user, family)
        audit.record(
            "token.issued",
            user_id=grantor.user.id,
            client_id=client.client_id,
            actor=f"client:{client.client_id}",
            address=flask_request.remote_addr,
            grant_type=self.GRANT_TYPE,
            scope=token["scope"],
            jti=access_token_id(token),
            refresh_token="refresh_token" in token,
        )


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """RFC 8693 token exchange, for confidential clients registered with the grant (SPEC,
    "Policy"). Authlib 1.9 ships no token-exchange grant, only its base classes: the rules are
    ``services/exchange.py`` and ``policy``, this is the glue."""

    GRANT_TYPE = policy.TOKEN_EXCHANGE_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = policy.auth_methods(policy.TOKEN_EXCHANGE_GRANT)

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client is not registered for token exchange.")
        self.request.client = client
        form = flask_request.form
        if "actor_token" in form:
            raise InvalidRequestError(
                "'actor_token' is not supported: the authenticated client is the actor."
            )
        try:
            subject = exchange.subject_token(
                form.get("subject_token"), form.get("subject_token_type"), client
            )
        except exchange.ExchangeRefused as problem:
            raise refused(InvalidRequestError(str(problem)), f"token exchange: {problem}") from None
        requested_type = form.get("requested_token_type")
        if requested_type not in (None, policy.ACCESS_TOKEN_TYPE):
            raise InvalidRequestError(f"Only {policy.ACCESS_TOKEN_TYPE} can be requested.")
        scope = policy.exchanged_scope(subject.record.scope, form.get("scope"))
        if scope is None:
            raise InvalidScopeError("Ask for the subject token's scope or less.")
        targets = [*requested_resources(), *form.getlist("audience")]
        if resources.unknown(targets) or policy.resource_problem(form.getlist("audience")):
            raise refused(
                InvalidTargetError("The requested resource or audience is not known here."),
                "token exchange: unknown target",
            )
        self.request.subject = subject
        self.request.exchanged_scope = scope
        self.request.audience = list(dict.fromkeys(targets)) or resources.default_audience()

    def create_token_response(self):
        check_token_request(self)  # this grant is ours, not Authlib's: no hook runs it
        token = exchange.exchanged_token(
            self.request.client,
            self.request.subject,
            self.request.exchanged_scope,
            self.request.audience,
            flask_request.remote_addr,
            jkt=proof_jkt(),
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER
