"""The rules: who gets which token, when a person must log in or be asked for consent, how long
everything lives, when a refresh token rotates and when its reuse ends the grant.

Plain functions of plain values (no Flask request, no database), so each rule can be read in one
place and tested alone. The views and the Authlib grants ask these functions and do what they say.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .scopes import CATALOGUE, REQUIRED_SCOPES, join_scopes, scope_list

#: RFC 8628 and RFC 8693 grant types, by their registered URNs.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
#: The grant types this server implements, in the order the metadata lists them.
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    DEVICE_CODE_GRANT,
    TOKEN_EXCHANGE_GRANT,
)

# --- who gets which token --------------------------------------------------------------------


def issue_refresh_token(client_grant_types: Collection[str], granted_scopes: Iterable[str]) -> bool:
    """A refresh token only for a client holding the ``refresh_token`` grant, and only if the
    person granted ``offline_access``: access while they are away is theirs to give (OIDC Core
    §11). Never for ``client_credentials``, where nobody granted anything."""
    return "refresh_token" in client_grant_types and "offline_access" in set(granted_scopes)


def client_credentials_scope(registered: str, requested: str | None) -> str | None:
    """The scope a client may get for itself: registered, and not about a person (RFC 6749 §4.4).

    Omitted means everything it may have (RFC 6749 §3.3 allows a default); None means refused.
    """
    allowed = [s for s in scope_list(registered) if s in CATALOGUE and not CATALOGUE[s].user_only]
    wanted = scope_list(requested) or allowed
    if not wanted or not set(wanted) <= set(allowed):
        return None
    return join_scopes(wanted)


def refresh_tokens_unreachable(grant_types: Collection[str], scope: str) -> bool:
    """A client holding the ``refresh_token`` grant without the ``offline_access`` scope can
    never be issued a refresh token (``issue_refresh_token``): its developer should know."""
    return "refresh_token" in grant_types and "offline_access" not in scope_list(scope)


#: How many of a confidential client's latest code exchanges the PKCE hint looks at.
PKCE_HINT_WINDOW = 20


def pkce_hint_due(is_public: bool, recent_exchanges_used_pkce: list[bool]) -> bool:
    """A confidential client whose recent code exchanges (at least one) never used PKCE gets a
    hint: RFC 9700 §2.1.1 recommends it for confidential clients too (it stops code injection).
    Public clients must use it anyway (the server refuses them without)."""
    exchanges = recent_exchanges_used_pkce
    return not is_public and bool(exchanges) and not any(exchanges)


def scope_refusal(requested: str | None, registered: str) -> str | None:
    """Why a client may not ask a person for ``requested`` (one sentence naming the scopes and
    the fix, for ``invalid_scope``), or None when it may. Unknown scopes are refused before this
    (the server's ``validate_requested_scope``)."""
    wanted = scope_list(requested)
    if not wanted:
        return (
            "Missing 'scope': ask for at least one scope; this client is registered for: "
            f"{registered or '(none)'}."
        )
    unregistered = [s for s in wanted if s not in set(scope_list(registered))]
    if unregistered:
        return (
            f"Scope not registered for this client: {' '.join(unregistered)}. Add it to the "
            "client's registration (developer console), or leave it out of the request."
        )
    return None


def client_credentials_scope_refusal(registered: str, requested: str | None) -> str:
    """Why ``client_credentials_scope`` refused: which scopes, and why each."""
    allowed = set(scope_list(registered))
    wanted = scope_list(requested)
    unregistered = [s for s in wanted if s not in allowed]
    if unregistered:
        return f"Scope not registered for this client: {' '.join(unregistered)}."
    personal = [s for s in wanted if s in CATALOGUE and CATALOGUE[s].user_only]
    if personal:
        return (
            f"Scope about a person, which a client cannot get for itself: {' '.join(personal)} "
            "(use the authorization_code grant)."
        )
    return (
        "This client is registered for no scope it can get for itself, only for scopes about "
        "a person."
    )


def wider_than_granted(granted: str, requested: str | None) -> list[str]:
    """The scopes a refresh asks for that the grant does not hold (RFC 6749 §6: a refresh may
    narrow the scope, never widen it)."""
    held = set(scope_list(granted))
    return [s for s in scope_list(requested) if s not in held]


def refreshed_scope(granted: str, requested: str | None, client_scope: str) -> str | None:
    """The scope of the access token a refresh issues, or None if nothing is left to issue.

    A refresh may narrow the granted scope, never widen it (RFC 6749 §6; the caller refuses a
    wider request); a scope the developer has since removed from the client is not issued any
    more, even though the person once granted it.
    """
    wanted = scope_list(requested) or scope_list(granted)
    scope = join_scopes(set(wanted) & set(scope_list(granted)) & set(scope_list(client_scope)))
    return scope or None


def scope_after_withdrawal(granted: str, withdrawn: str) -> str | None:
    """What a grant keeps when the person takes one scope back, or None if the grant must end:
    without ``offline_access`` its refresh tokens are no longer theirs to hold, and a grant with
    nothing left is no grant."""
    rest = [s for s in scope_list(granted) if s != withdrawn]
    if withdrawn == "offline_access" or not rest:
        return None
    return join_scopes(rest)


# --- which resource a token is for (RFC 8707) ------------------------------------------------

#: A confidential client registered for token exchange is itself a resource (SPEC, Policy).
CLIENT_RESOURCE_PREFIX = "urn:authserver:client:"
#: Longest resource identifier kept (the ``access_tokens.audience`` column holds them joined).
MAX_RESOURCE_LENGTH = 500


def client_resource(client_id: str) -> str:
    """The resource identifier of a token-exchange client: tokens for it carry this ``aud``."""
    return CLIENT_RESOURCE_PREFIX + client_id


def resource_problem(resources: Iterable[str]) -> str | None:
    """Why these ``resource`` values are no resource indicators, or None (RFC 8707 §2: an
    absolute URI without a fragment)."""
    for resource in resources:
        if not resource or len(resource) > MAX_RESOURCE_LENGTH or not resource.isprintable():
            return "Each 'resource' must be an absolute URI of at most 500 characters."
        try:
            parts = urlsplit(resource)
        except ValueError:
            return "Each 'resource' must be an absolute URI."
        if not parts.scheme or " " in resource:
            return "Each 'resource' must be an absolute URI."
        if "#" in resource:
            return "A 'resource' must not contain a fragment."
    return None


def permitted_resources(default_audience: str, configured: str | None) -> frozenset[str]:
    """The resources any client may ask a token for without a registration of its own:
    ``AUTHSERVER_DEFAULT_AUDIENCE`` and the space-separated ``AUTHSERVER_RESOURCES``. Resources
    registered to a client and token-exchange clients (``client_resource``) come on top of
    these, found by ``services/resources.py``."""
    return frozenset([default_audience, *(configured or "").split()])


def audience_for(requested: Sequence[str], granted: Sequence[str]) -> list[str] | None:
    """The ``aud`` of an access token: the requested resources when all were granted, else
    everything granted; None (``invalid_target``) when the request reaches beyond the grant.

    ``granted`` is what the person approved (the authorization request's ``resource``s, or the
    default audience) or, for a refresh, what the grant still holds: a token request may
    narrow the audience, never widen it (RFC 8707 §2.2).
    """
    wanted = list(dict.fromkeys(requested))
    if not wanted:
        return list(granted)
    if not set(wanted) <= set(granted):
        return None
    return wanted


def audience_claim(audience: Sequence[str]) -> str | list[str]:
    """The JWT ``aud`` (RFC 7519 §4.1.3): one string for one resource, else a list."""
    return audience[0] if len(audience) == 1 else list(audience)


# --- token exchange (RFC 8693) -----------------------------------------------------------------

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"  # noqa: S105


def may_exchange(subject_audience: Iterable[str], exchanger_resources: Iterable[str]) -> bool:
    """A client may exchange a token only if it received it: the token's ``aud`` names the
    client as a resource (``client_resource``) or a resource registered to it (SPEC)."""
    return bool(set(subject_audience) & set(exchanger_resources))


def exchanged_scope(subject_scope: str, requested: str | None) -> str | None:
    """The scope of an exchanged token: the subject token's, or narrower (RFC 8693 §2.1);
    None (``invalid_scope``) when the request reaches beyond it."""
    held = scope_list(subject_scope)
    wanted = scope_list(requested) or held
    if not wanted or not set(wanted) <= set(held):
        return None
    return join_scopes(wanted)


def actor_claim(client_id: str, subject_act: Mapping[str, Any] | None) -> dict[str, Any]:
    """RFC 8693 §4.1: ``act`` names the client now acting; an earlier actor of the subject
    token nests inside it, so the chain of delegation stays readable."""
    act: dict[str, Any] = {"sub": client_id}
    if subject_act:
        act["act"] = dict(subject_act)
    return act


# --- the device authorization grant (RFC 8628) -------------------------------------------------

#: RFC 8628 §6.1: letters only, no vowels (no words), case-insensitive; 20**8 ≈ 2**34.6 codes,
#: guessed at most a few dozen times an hour per address (``throttling.device_code_attempts``).
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
#: Seconds a device code and its user code live (SPEC: 10 minutes).
DEVICE_CODE_TTL = 600
#: Seconds a device waits between polls at first (RFC 8628 §3.2 default), and what each
#: ``slow_down`` adds (§3.5).
DEVICE_POLL_INTERVAL = 5
SLOW_DOWN_STEP = 5


def normalize_user_code(typed: str | None) -> str | None:
    """The user code a person typed, as stored: case, dashes and spaces ignored (RFC 8628
    §6.1); None when it cannot be one of ours."""
    if not typed or len(typed) > 40:
        return None
    letters = "".join(ch for ch in typed.upper() if ch not in "- \t")
    if len(letters) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in letters):
        return None
    return letters


def format_user_code(code: str) -> str:
    """A user code as people read it: ``XXXX-XXXX``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def polls_too_fast(now: datetime, last_polled_at: datetime | None, interval: int) -> bool:
    """Whether a device polled sooner than its interval allows: ``slow_down`` (RFC 8628 §3.5),
    and the interval grows by ``SLOW_DOWN_STEP``."""
    return last_polled_at is not None and now - last_polled_at < timedelta(seconds=interval)


# --- how clients authenticate ----------------------------------------------------------------

#: A confidential client proves itself with its secret, in an HTTP Basic header or in the form
#: (RFC 6749 §2.3.1); a public client has none and names itself only ("none", RFC 7591 §2).
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
PUBLIC_METHOD = "none"
#: Or with a JWT it signed (RFC 7523 §2.2, OIDC Core §9): with a private key whose public half
#: it registered (``jwks`` or ``jwks_uri``), or with HMAC under its client secret.
PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_SECRET_JWT = "client_secret_jwt"  # noqa: S105 (a method's name, no secret)
JWT_METHODS = (PRIVATE_KEY_JWT, CLIENT_SECRET_JWT)
CONFIDENTIAL_METHODS = (*SECRET_METHODS, *JWT_METHODS)
#: The signing algorithms each assertion method accepts (asymmetric for keys, HMAC for secrets:
#: never a public key used as an HMAC secret).
ASSERTION_ALGORITHMS = {
    PRIVATE_KEY_JWT: ("RS256", "ES256", "EdDSA", "Ed25519"),  # Ed25519: RFC 9864's name
    CLIENT_SECRET_JWT: ("HS256",),
}

#: Which methods each endpoint (each grant, at the token endpoint) accepts. Public clients may
#: redeem codes, refresh and revoke their own tokens (RFC 7009 §2.1), but never act for
#: themselves (``client_credentials``, RFC 6749 §4.4) nor introspect (RFC 7662 §2.1).
#: Pushed authorization requests take every method the token endpoint takes (RFC 9126 §2).
AUTH_METHODS = {
    "authorization_code": (*CONFIDENTIAL_METHODS, PUBLIC_METHOD),
    "refresh_token": (*CONFIDENTIAL_METHODS, PUBLIC_METHOD),
    "client_credentials": CONFIDENTIAL_METHODS,
    # RFC 8628 §3.1: a device is often a public client (a TV app, a command line).
    "device_authorization": (*CONFIDENTIAL_METHODS, PUBLIC_METHOD),
    DEVICE_CODE_GRANT: (*CONFIDENTIAL_METHODS, PUBLIC_METHOD),
    # RFC 8693: the exchanging client is a resource that received the token: it proves itself.
    TOKEN_EXCHANGE_GRANT: CONFIDENTIAL_METHODS,
    "revocation": (*CONFIDENTIAL_METHODS, PUBLIC_METHOD),
    "introspection": CONFIDENTIAL_METHODS,
    "pushed_authorization": (*CONFIDENTIAL_METHODS, PUBLIC_METHOD),
}


def auth_methods(endpoint: str) -> list[str]:
    """Every method ``endpoint`` (or grant type) accepts, as Authlib and the metadata list them."""
    return list(AUTH_METHODS[endpoint])


def token_endpoint_auth_methods() -> list[str]:
    """What the token endpoint accepts over all its grants (RFC 8414 §2), in table order."""
    methods = [m for grant in GRANT_TYPES for m in AUTH_METHODS[grant]]
    return list(dict.fromkeys(methods))


def methods_of(registered: str) -> tuple[str, ...]:
    """The methods a client registered with ``registered`` may use: a secret in either place,
    the one assertion method it registered keys (or an HMAC secret) for, or nothing at all."""
    if registered in SECRET_METHODS:
        return SECRET_METHODS
    return (registered,)


def client_may_use(registered: str, method: str, endpoint: str) -> bool:
    """Whether a client registered with method ``registered`` may authenticate with ``method``
    there; the token endpoint's grant decides first, so ``endpoint`` "token" admits its union."""
    allowed = token_endpoint_auth_methods() if endpoint == "token" else AUTH_METHODS[endpoint]
    return method in allowed and method in methods_of(registered)


#: Seconds a client assertion may still be valid for when it arrives (its ``exp`` at most this
#: far ahead), and the clock skew allowed either way. RFC 7523 §3 leaves the bound to us. An
#: hour, because that is what Authlib's client (and others) set by default: a tighter bound
#: refused them in the interop test. Replay stays impossible whatever the bound (each ``jti``
#: is remembered until its ``exp``); the bound caps how long that memory is kept.
ASSERTION_MAX_LIFETIME = 3600
ASSERTION_LEEWAY = 60


def assertion_problem(
    claims: Mapping[str, Any], client_id: str, audiences: Collection[str], now: datetime
) -> str | None:
    """Why a client assertion's claims are refused (RFC 7523 §3), or None: ``iss`` and ``sub``
    name the client, ``aud`` names us, ``exp`` is present, in the future and not too far, and
    ``nbf``/``iat`` are not in the future; ``jti`` is present (its single use is checked apart).
    """
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return "The assertion's iss and sub must both be the client_id."
    aud = claims.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in audiences for a in named):
        return "The assertion's aud must be this server's issuer or the endpoint's URL."
    at = now.timestamp()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return "The assertion must carry a numeric exp."
    if exp + ASSERTION_LEEWAY <= at:
        return "The assertion has expired."
    if exp > at + ASSERTION_MAX_LIFETIME + ASSERTION_LEEWAY:
        return f"The assertion's exp is more than {ASSERTION_MAX_LIFETIME} seconds ahead."
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"The assertion's {name} must be numeric."
        if value > at + ASSERTION_LEEWAY:
            return f"The assertion's {name} is in the future."
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 256:
        return "The assertion must carry a jti."
    return None


# --- DPoP (RFC 9449) ------------------------------------------------------------------------

#: The proof algorithms accepted (asymmetric only: never ``none`` nor a MAC, §4.3 point 6).
DPOP_ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
#: Seconds a proof's ``iat`` may lie behind the server's clock, and ahead of it (clock skew). A
#: proof is made for one request, so a minute is generous; its ``jti`` is remembered that long.
DPOP_PROOF_MAX_AGE = 60
DPOP_PROOF_LEEWAY = 5
#: Seconds in which one server nonce is current; the previous window's is still accepted, so a
#: nonce lives between one and two windows (§8).
DPOP_NONCE_WINDOW = 60
#: RFC 9449 §4.2 token_type of a key-bound access token; RFC 6750's otherwise.
DPOP_TOKEN_TYPE = "DPoP"  # noqa: S105 (a token type's name)
BEARER_TOKEN_TYPE = "Bearer"  # noqa: S105 (a token type's name)
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


def access_token_type(jkt: str | None) -> str:
    """``DPoP`` for a token bound to a key (its ``cnf.jkt``), ``Bearer`` otherwise (§5)."""
    return DPOP_TOKEN_TYPE if jkt is not None else BEARER_TOKEN_TYPE


def refresh_token_key(is_public: bool, jkt: str | None) -> str | None:
    """The key a new grant's refresh tokens are bound to: a public client's proof key; none for
    a confidential client, whose refresh tokens its authentication already binds (§5)."""
    return jkt if is_public else None


def dpop_jkt_problem(value: str | None) -> str | None:
    """Why an authorization request's ``dpop_jkt`` (§10) is malformed: it is an RFC 7638
    SHA-256 thumbprint, 43 base64url characters."""
    if value is None or _JKT.fullmatch(value):
        return None
    return "'dpop_jkt' must be the base64url SHA-256 JWK thumbprint of the DPoP key."


def dpop_binding_problem(
    proof_jkt: str | None,
    *,
    client_requires: bool,
    code_jkt: str | None = None,
    refresh_jkt: str | None = None,
) -> str | None:
    """Why a token request's DPoP proof (its key's thumbprint, None without a proof) does not
    fit what the request must be bound to, or None.

    ``client_requires``: the client registered ``dpop_bound_access_tokens`` (RFC 9449 §5.2);
    ``code_jkt``: the authorization request's ``dpop_jkt`` (§10); ``refresh_jkt``: the key a
    public client's refresh token is bound to (§5).
    """
    if client_requires and proof_jkt is None:
        return "This client is registered for DPoP-bound tokens: send a DPoP proof."
    if code_jkt is not None and proof_jkt != code_jkt:
        return "The DPoP proof's key is not the one the authorization request named (dpop_jkt)."
    if refresh_jkt is not None and proof_jkt != refresh_jkt:
        return "The refresh token is bound to a DPoP key: send a proof made with that key."
    return None


# --- pushed authorization requests (RFC 9126) ---------------------------------------------------

#: Seconds a pushed request waits to be opened (``expires_in``), and how long the browser that
#: opened it may come back to it while the person logs in and consents.
PUSHED_REQUEST_LIFETIME = 60
PUSHED_REQUEST_FLOW_LIFETIME = 1800


def must_push(client_requires: bool, server_requires: bool) -> bool:
    """Whether a client's authorization requests must come through PAR (RFC 9126 §5, §6)."""
    return client_requires or server_requires


# --- consent ----------------------------------------------------------------------------------


def granted_scopes(requested: Iterable[str], ticked: Iterable[str]) -> list[str]:
    """What the person granted on the consent page: the ticked boxes that were asked for, plus
    the scopes that cannot be unticked (``openid``) when asked for."""
    requested = list(requested)
    kept = set(ticked) | (set(requested) & REQUIRED_SCOPES)
    return [s for s in requested if s in kept]


def must_ask_consent(
    already_granted: Iterable[str] | None,
    requested: Iterable[str],
    prompts: Collection[str],
    unapproved_resources: Collection[str] = (),
) -> bool:
    """Show the consent page unless everything asked for was granted before (incremental
    consent), or unless the app asks for it explicitly with ``prompt=consent`` (OIDC Core §3.1.2.1).
    A resource (RFC 8707) the person has not let the app reach yet is asked for too: the page
    names it.
    """
    if "consent" in prompts or already_granted is None or unapproved_resources:
        return True
    return not set(requested) <= set(already_granted)


# --- logging in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginRequirement:
    """What an authorization request asks of the login behind it (OIDC Core §3.1.2.1)."""

    prompt_login: bool = False  # prompt=login: authenticate again, whatever the session
    max_age: int | None = None  # seconds the login may be old; 0 is prompt=login
    hint_subject: str | None = None  # the id_token_hint's sub: the person the app expects

    def asks_anything(self) -> bool:
        return self.prompt_login or self.max_age is not None or self.hint_subject is not None

    def joined(self, remembered: LoginRequirement | None) -> LoginRequirement:
        """This request's requirement together with one remembered for it before its login:
        resending the request without (or with looser) parameters loosens nothing. When both
        name someone, the remembered hint stands."""
        if remembered is None:
            return self
        ages = [age for age in (self.max_age, remembered.max_age) if age is not None]
        return LoginRequirement(
            prompt_login=self.prompt_login or remembered.prompt_login,
            max_age=min(ages) if ages else None,
            hint_subject=remembered.hint_subject or self.hint_subject,
        )


def must_log_in(
    *,
    logged_in_subject: str | None,
    auth_time: datetime | None,
    now: datetime,
    requirement: LoginRequirement,
    fresh_login_for_this_request: bool = False,
) -> bool:
    """Whether the person must (again) prove who they are before this authorization request.

    - nobody is logged in, or the app asks with ``prompt=login``;
    - the login is older than ``max_age`` seconds (``max_age=0`` is ``prompt=login``, OIDC
      Core §3.1.2.1 and its errata);
    - the app's ``id_token_hint`` names someone else than who is logged in here: ask who is at
      the keyboard rather than answer for the wrong person;
    - but never again right after a password login made for this very request (the login
      page's round trip, in the login session it started): that login is the authentication
      asked for, and another one would not change who answers a hint (see
      :func:`hint_names_someone_else`).
    """
    if logged_in_subject is None:
        return True
    if fresh_login_for_this_request:
        return False
    if requirement.prompt_login:
        return True
    if hint_names_someone_else(requirement, logged_in_subject):
        return True
    if requirement.max_age is None:
        return False
    if requirement.max_age == 0 or auth_time is None:
        return True
    return now - auth_time > timedelta(seconds=requirement.max_age)


def hint_names_someone_else(requirement: LoginRequirement, logged_in_subject: str) -> bool:
    """The app expects someone other than who is logged in. After a login made for the request
    this is an answer, not a reason to log in again: ``login_required`` (OIDC Core §3.1.2.1:
    "If the End-User identified by the ID Token is logged in or is logged in by the request,
    then the Authorization Server returns a positive response; otherwise, it SHOULD return an
    error, such as login_required")."""
    return requirement.hint_subject is not None and requirement.hint_subject != logged_in_subject


def id_token_hint_vouches_for_logout(
    hint: Mapping[str, object], logged_in_subject: str, session_id: str
) -> bool:
    """An ID token vouches for ending this login session only if it was issued in it: same
    ``sub`` and same ``sid`` (RP-Initiated Logout §2 and §6). One from an earlier, ended session
    of the same person, or one without ``sid``, gets the confirmation page instead."""
    sid = hint.get("sid")
    return (
        hint.get("sub") == logged_in_subject
        and isinstance(sid, str)
        and hmac.compare_digest(sid.encode(), session_id.encode())
    )


# --- lifetimes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifetimes:
    """Seconds each credential lives, from the ``AUTHSERVER_*_TTL`` settings."""

    access_token: int
    id_token: int
    code: int
    refresh_token: int  # sliding: each rotation starts it again
    refresh_family: int  # absolute: however often it is refreshed
    refresh_retry: int = 10  # the same token again within this gets the same successor

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Lifetimes:
        return cls(
            access_token=int(config["ACCESS_TOKEN_TTL"]),
            id_token=int(config["ID_TOKEN_TTL"]),
            code=int(config["CODE_TTL"]),
            refresh_token=int(config["REFRESH_TOKEN_TTL"]),
            refresh_family=int(config["REFRESH_TOKEN_MAX_LIFETIME"]),
            refresh_retry=int(config["REFRESH_RETRY_WINDOW"]),
        )


def lifetimes(config: Mapping[str, Any]) -> Lifetimes:
    """The lifetimes of everything this server issues: one set for every client and grant (the
    ``AUTHSERVER_*_TTL`` settings); the place to vary them per client, should that be wanted."""
    return Lifetimes.from_config(config)


def refresh_token_expiry(now: datetime, family_started: datetime, life: Lifetimes) -> datetime:
    """A new refresh token lives ``refresh_token`` seconds, but never past its family's end."""
    return min(
        now + timedelta(seconds=life.refresh_token),
        family_started + timedelta(seconds=life.refresh_family),
    )


# --- presenting a refresh token ---------------------------------------------------------------


class RefreshVerdict(enum.Enum):
    ROTATE = "rotate"  # issue a successor, retire this one
    RETRY = "retry"  # rotated a moment ago, successor unused: the same answer again
    REUSED = "reused"  # already rotated: one of two holders is an attacker, end the grant
    DEAD = "dead"  # expired, revoked, or its grant has ended


def judge_refresh_token(
    *,
    now: datetime,
    rotated_at: datetime | None,
    expires_at: datetime,
    family_revoked_at: datetime | None,
    family_started: datetime,
    life: Lifetimes,
    successor_unused: bool = False,
) -> RefreshVerdict:
    """What presenting a refresh token means (RFC 6749 §6, RFC 9700 §4.14.2): refresh tokens
    rotate at every use, and a rotated one presented again revokes its whole family — unless it
    comes back within ``refresh_retry`` seconds while its successor is still unused: a client
    that lost the answer on a flaky network, which gets the same answer again."""
    if family_revoked_at is not None:
        return RefreshVerdict.DEAD
    if rotated_at is not None:
        if successor_unused and now - rotated_at <= timedelta(seconds=life.refresh_retry):
            return RefreshVerdict.RETRY
        return RefreshVerdict.REUSED
    if expires_at <= now or family_started + timedelta(seconds=life.refresh_family) <= now:
        return RefreshVerdict.DEAD
    return RefreshVerdict.ROTATE


#: How long a mailed one-time link works, by purpose (SPEC "Mail and accounts": verification
#: 24 h, reset 30 min; a new address is a verification).
LINK_LIFETIMES = {
    "verify": timedelta(hours=24),
    "change_email": timedelta(hours=24),
    "reset": timedelta(minutes=30),
}
# --- how a person signed in: amr and acr (RFC 8176, OIDC Core §2) -------------------------------

#: ``acr`` of a login with a second factor (or a passkey with user verification), and of one
#: without. Advertised in ``acr_values_supported``; a client asks for the first with
#: ``acr_values``.
ACR_MFA = "urn:authserver:acr:mfa"
ACR_ONE_FACTOR = "urn:authserver:acr:pwd"
ACR_VALUES = (ACR_ONE_FACTOR, ACR_MFA)
#: The second factors a session can add to a password (RFC 8176 names).
SECOND_FACTOR_METHODS = frozenset({"otp", "hwk", "swk"})


def amr_with(amr: Iterable[str], *methods: str) -> list[str]:
    """The session's methods plus ``methods``, with ``mfa`` once two kinds of factor were used
    (a password and a code or passkey; a user-verified passkey counts as two: possession and
    the PIN or biometric checked on the device, which adds ``user`` below)."""
    methods_used = [m for m in dict.fromkeys([*amr, *methods]) if m != "mfa"]
    factors = {"pwd", "user"} & set(methods_used), SECOND_FACTOR_METHODS & set(methods_used)
    if all(factors):
        methods_used.append("mfa")
    return methods_used


def acr_for(amr: Iterable[str]) -> str:
    """The ``acr`` a login with these methods earns."""
    return ACR_MFA if "mfa" in amr else ACR_ONE_FACTOR


def needs_second_factor(acr_values: str | None, amr: Iterable[str]) -> bool:
    """The client asked for ``ACR_MFA`` (``acr_values``, space-separated, in order of
    preference) and this session has not passed a second factor: step up."""
    return ACR_MFA in (acr_values or "").split() and "mfa" not in amr


#: How long the second step of a login waits for its code or passkey after the password.
SECOND_STEP_LIFETIME = timedelta(minutes=5)


def second_step_expired(started: datetime, now: datetime) -> bool:
    """The password was checked too long ago: start the login again (a walked-away screen)."""
    return not (started <= now < started + SECOND_STEP_LIFETIME)


# --- passkeys: the WebAuthn relying party ------------------------------------------------------


@dataclass(frozen=True)
class RelyingParty:
    id: str  # the RP ID: a host name, never an IP address (browsers refuse those)
    origin: str  # scheme://host[:port] the browser reports in clientDataJSON


#: A WebAuthn challenge (registration or sign-in) is answered within this, or not at all.
PASSKEY_CHALLENGE_LIFETIME = timedelta(minutes=2)


def relying_party(issuer: str, served_on: str) -> RelyingParty:
    """The relying party for passkeys (SPEC "Mail and accounts"): the issuer's host and origin;
    but when the issuer's host is a loopback IP address, which no browser takes as an RP ID,
    the host the page is served on (``served_on``, the request's ``scheme://host[:port]``) when
    that is ``localhost`` — so in development passkeys work on ``http://localhost:<port>``."""
    issued = urlsplit(issuer)
    served = urlsplit(served_on)
    if _is_ip_loopback(issued.hostname or "") and (served.hostname or "") == "localhost":
        return RelyingParty("localhost", f"{served.scheme}://{served.netloc}")
    return RelyingParty(issued.hostname or "", f"{issued.scheme}://{issued.netloc}")


def _is_ip_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def passkey_methods(backup_eligible: bool, user_verified: bool) -> list[str]:
    """RFC 8176 methods a passkey proves: a synced (backup-eligible) passkey is a software key
    (``swk``), a device-bound one a hardware key (``hwk``); user verification (the device's
    PIN or biometric) adds ``user``, and with it ``mfa`` (something held and something known
    or been)."""
    return amr_with([], "swk" if backup_eligible else "hwk", *(["user"] if user_verified else []))


# --- Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document) -------------

#: The longest client_id stored (the column's width): room for a metadata document's URL.
CLIENT_ID_MAX_LENGTH = 2048
#: A metadata document is kept for what its HTTP caching headers say, within these bounds
#: (seconds): never refetched more than once a minute per client, never trusted past a day.
METADATA_CACHE_MIN = 60
METADATA_CACHE_MAX = 86_400
#: ... and for an hour when the headers say nothing.
METADATA_CACHE_DEFAULT = 3600
#: A document that could not be had (or was refused) is not asked for again this soon.
METADATA_FAILURE_CACHE = 30
#: What a metadata-document client may do: it authenticates with nothing (a public client).
METADATA_GRANT_TYPES = ("authorization_code", "refresh_token")
#: The longest ``client_name`` kept; a longer one is cut (it is shown, never trusted).
METADATA_NAME_MAX = 120
#: As many redirect URIs as the console lets a developer register.
METADATA_MAX_REDIRECT_URIS = 10


def names_metadata_document(client_id: object, allow_loopback: bool) -> bool:
    """Whether ``client_id`` is meant as a metadata document's URL (``https://``, or plain
    ``http://`` when loopback documents are allowed); whether it is a good one is
    ``metadata_document_url_problem``'s question."""
    if not isinstance(client_id, str):
        return False
    return client_id.startswith("https://") or (allow_loopback and client_id.startswith("http://"))


def metadata_document_url_problem(url: str, allow_loopback: bool) -> str | None:
    """Why ``url`` cannot be a client_id naming a metadata document (draft §3), or None: an
    ``https`` URL (``http`` to 127.0.0.1/[::1]/localhost only when ``allow_loopback``) with a
    path, no fragment, no user name or password, no ``.``/``..`` segments, printable ASCII, at
    most ``CLIENT_ID_MAX_LENGTH`` characters."""
    if len(url) > CLIENT_ID_MAX_LENGTH:
        return f"is longer than {CLIENT_ID_MAX_LENGTH} characters"
    if not url.isascii() or not url.isprintable() or " " in url:
        return "must be printable ASCII without spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL"
    host = parts.hostname or ""
    if not host:
        return "has no host"
    if parts.scheme == "http":
        if not (allow_loopback and _is_loopback_name(host)):
            return "must be an https URL"
    elif parts.scheme != "https":
        return "must be an https URL"
    if "#" in url:
        return "must not contain a fragment"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if not parts.path or parts.path == "/":
        return "must have a path"
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return "must not contain . or .. path segments"
    return None


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or _is_ip_loopback(host)


@dataclass(frozen=True)
class MetadataClient:
    """What a checked metadata document registers: a public client of these redirect URIs."""

    name: str
    redirect_uris: list[str]
    scope: str
    grant_types: list[str]
    client_uri: str | None


def metadata_document_problem(
    document: Mapping[str, Any], url: str, redirect_uri_problem: Callable[[str], str | None]
) -> str | None:
    """Why ``document`` (a JSON object fetched from ``url``) is no acceptable Client ID Metadata
    Document, or None. ``redirect_uri_problem(uri)`` says why a redirect URI could not be
    registered here (the same rule as every other client's)."""
    if document.get("client_id") != url:
        return "its client_id is not the URL it was fetched from"
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        return "redirect_uris must be a non-empty list of strings"
    if len(uris) > METADATA_MAX_REDIRECT_URIS:
        return f"redirect_uris lists more than {METADATA_MAX_REDIRECT_URIS} URIs"
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            return f"a redirect URI {problem}"
    method = document.get("token_endpoint_auth_method", PUBLIC_METHOD)
    if method != PUBLIC_METHOD:
        return "token_endpoint_auth_method must be 'none' (such a client has no secret)"
    for secretish in ("client_secret", "client_secret_expires_at"):
        if secretish in document:
            return f"a metadata document must not carry {secretish}"
    grant_types = document.get("grant_types", ["authorization_code"])
    if (
        not isinstance(grant_types, list)
        or not grant_types
        or not all(isinstance(g, str) for g in grant_types)
    ):
        return "grant_types must be a list of strings"
    if not set(grant_types) <= set(METADATA_GRANT_TYPES):
        return "grant_types may hold only authorization_code and refresh_token"
    if "authorization_code" not in grant_types:
        return "grant_types must include authorization_code"
    response_types = document.get("response_types", ["code"])
    if response_types != ["code"]:
        return "response_types may only be ['code']"
    for text in ("client_name", "scope", "client_uri", "logo_uri"):
        if text in document and not isinstance(document[text], str):
            return f"{text} must be a string"
    return None


def metadata_client(document: Mapping[str, Any], url: str) -> MetadataClient:
    """What a checked document (``metadata_document_problem`` found nothing) registers: its
    name (else the host it came from), its redirect URIs, the scopes it names that the catalogue
    has (every one when it names none), its grant types, and ``client_uri`` when it is an
    https URL on the document's own host (an address the page may show as text)."""
    host = urlsplit(url).hostname or url
    name = " ".join(str(document.get("client_name") or "").split())
    name = "".join(c for c in name if c.isprintable())[:METADATA_NAME_MAX] or host
    named = scope_list(document.get("scope"))
    scope = join_scopes([s for s in named if s in CATALOGUE] if named else list(CATALOGUE))
    grant_types = [g for g in METADATA_GRANT_TYPES if g in document.get("grant_types", [])]
    client_uri = document.get("client_uri")
    if not (
        isinstance(client_uri, str)
        and len(client_uri) <= 2000
        and client_uri.isprintable()
        and client_uri.startswith("https://")
        and urlsplit(client_uri).hostname == urlsplit(url).hostname
    ):
        client_uri = None
    return MetadataClient(
        name=name,
        redirect_uris=list(dict.fromkeys(document["redirect_uris"])),
        scope=scope,
        grant_types=grant_types or ["authorization_code"],
        client_uri=client_uri,
    )


def metadata_cache_seconds(
    max_age: int | None,
    expires: datetime | None,
    date: datetime | None,
    now: datetime,
) -> int:
    """How long a fetched document is kept (RFC 9111 §4.2.1): ``Cache-Control: max-age``
    first, else ``Expires`` counted from the answer's ``Date`` (else from now), else
    ``METADATA_CACHE_DEFAULT``; always within ``METADATA_CACHE_MIN``..``METADATA_CACHE_MAX``
    (``no-store`` is the floor: the client's row must live through its sign-in)."""
    if max_age is not None:
        seconds = max_age
    elif expires is not None:
        seconds = int((expires - (date or now)).total_seconds())
    else:
        seconds = METADATA_CACHE_DEFAULT
    return max(METADATA_CACHE_MIN, min(METADATA_CACHE_MAX, seconds))


def only_loopback_redirects(redirect_uris: Iterable[str]) -> bool:
    """Every redirect URI goes to this very machine: any local program could be the app the
    document names (draft §6: the consent page must say so)."""
    hosts = [urlsplit(uri).hostname or "" for uri in redirect_uris]
    return bool(hosts) and all(_is_loopback_name(host) for host in hosts)
