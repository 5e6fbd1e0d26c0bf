"""Token protection: find the token (RFC 6750 §2, or ``Authorization: DPoP``), check it (RFC 9068
§4, RFC 7662), hold a DPoP-bound token to its proof (RFC 9449 §7, ``dpop.py``), and guard each
view with ``@require_scope(...)``.

Errors follow RFC 6750 §3: 400 ``invalid_request``, 401 ``invalid_token`` (or a bare challenge
when no token was sent at all), 403 ``insufficient_scope``; each with a ``WWW-Authenticate``.
Every 401 offers both schemes: ``Bearer`` and ``DPoP algs="..."`` (RFC 9449 §7.1); a refused
DPoP proof is 401 ``invalid_dpop_proof`` in the DPoP challenge.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple, ParamSpec, TypedDict, TypeVar
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from flask import Flask, Request, current_app, g, request
from joserfc.errors import (
    ClaimError,
    ExpiredTokenError,
    MissingClaimError,
)
from joserfc.jwt import JWTClaimsRegistry
from joserfc.util import urlsafe_b64decode

from . import dpop
from .errors import ApiError
from .issuer import IssuerClient
from .models import SUB_MAX_LENGTH
from .resource_metadata import metadata_url

#: RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: RFC 9068 §4: typ is "at+jwt", or the same media type written out in full.
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: Far above any token the issuer mints; parsing megabytes of base64 is work for nothing.
MAX_TOKEN_LENGTH = 8192
#: A header is a few short members (alg, typ, kid); joserfc's own limit is 512 bytes decoded.
MAX_HEADER_SEGMENT_LENGTH = 1024
#: Introspection answers kept at once; the oldest go first when more tokens are in use.
INTROSPECTION_CACHE_SIZE = 10_000
#: Tokens that passed every check, remembered at once (a few KiB each); the oldest go first.
VERIFIED_TOKENS_CACHE_SIZE = 4096
#: RFC 9110 §9.2.1: methods that change nothing (what INTROSPECT_WRITES leaves to local checks).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: RFC 6750 §3: error_description is limited to these characters.
_DESCRIPTION_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")

_P = ParamSpec("_P")
_R = TypeVar("_R")


# -- errors ----------------------------------------------------------------------------------


class BearerError(ApiError):
    """An RFC 6750 §3 error, answered with a ``WWW-Authenticate: Bearer ...`` challenge."""

    def __init__(self, description: str, *, scope: str | None = None) -> None:
        params = [("error", self.error), ("error_description", description)]
        if scope is not None:
            params.append(("scope", scope))
        super().__init__(
            description,
            headers={"WWW-Authenticate": _challenge(params, self.status == 401)},
            **_scope_extra(scope),
        )


class InvalidRequest(BearerError):
    status = 400
    error = "invalid_request"


class InvalidToken(BearerError):
    status = 401
    error = "invalid_token"


class InsufficientScope(BearerError):
    status = 403
    error = "insufficient_scope"


class MissingToken(ApiError):
    """RFC 6750 §3.1: "If the request lacks any authentication information (e.g., the client
    was unaware that authentication is necessary ...), the resource server SHOULD NOT include
    an error code or other error information" in the challenge."""

    status = 401
    error = "unauthorized"

    def __init__(self) -> None:
        super().__init__(
            "This endpoint needs an access token: send it as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": _challenge([], True)},
        )


class InvalidDPoPProof(ApiError):
    """RFC 9449 §7.1: a DPoP-bound token without a valid proof for this request; the DPoP
    challenge carries the error, the Bearer one still says where to get a token."""

    status = 401
    error = "invalid_dpop_proof"

    def __init__(self, description: str) -> None:
        params = [("error", self.error), ("error_description", description)]
        header = _dpop_challenge(params) + ", " + _challenge([], False)
        super().__init__(description, headers={"WWW-Authenticate": header})


def _challenge(params: list[tuple[str, str]], unauthorized: bool) -> str:
    items = [("realm", current_app.config["REALM"]), *params]
    if unauthorized:
        # RFC 9728 §5.1: a 401 says where a client learns how to get a token for this API.
        items.append(("resource_metadata", metadata_url(current_app.config["AUDIENCE"])))
    bearer = "Bearer " + ", ".join(f'{name}="{_quoted(name, value)}"' for name, value in items)
    # RFC 9449 §7.1: a 401 offers the DPoP scheme too, with the algorithms its proofs may use.
    return f"{bearer}, {_dpop_challenge([])}" if unauthorized else bearer


def _dpop_challenge(params: list[tuple[str, str]]) -> str:
    items = [*params, ("algs", " ".join(dpop.ALGORITHMS))]
    return "DPoP " + ", ".join(f'{name}="{_quoted(name, value)}"' for name, value in items)


def _quoted(name: str, value: str) -> str:
    if name == "error_description":
        return _DESCRIPTION_UNSAFE.sub(" ", value)
    # RFC 9110 §5.6.4 quoted-string: backslash-escape the two characters that need it.
    return value.replace("\\", "\\\\").replace('"', '\\"')


class _ScopeExtra(TypedDict, total=False):
    scope: str  # an extra member of the error answer, not ApiError's status or error


def _scope_extra(scope: str | None) -> _ScopeExtra:
    return {"scope": scope} if scope is not None else {}


# -- the token in the request ----------------------------------------------------------------


def extract_bearer_token(req: Request, *, allow_query: bool) -> str | None:
    """The one bearer token the request carries, or None if it carries none.

    RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each
    request."
    """
    found: list[str] = []

    # One environ entry however often the header was sent: WSGI servers join repeated
    # headers with commas, which no bearer token contains.
    header = req.headers.get("Authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        # Another scheme (Basic, ...) is simply not an access token: the request has none. A
        # DPoP-bound token comes under its own scheme (RFC 9449 §7.1); ``authenticate`` holds
        # each scheme to its kind of token.
        if scheme.lower() in ("bearer", "dpop"):
            if "," in credentials:
                raise InvalidRequest("The Authorization header is repeated or holds a list.")
            found.append(_single_token([credentials.strip()], "The Authorization header"))

    query_tokens = req.args.getlist("access_token")
    if query_tokens:
        if not allow_query:
            # RFC 6750 §2.3: URIs end up in logs and browser history; we opt out of §2.3.
            raise InvalidRequest(
                "Access tokens in the query string are not accepted; "
                "send an 'Authorization: Bearer' header instead."
            )
        found.append(_single_token(query_tokens, "The access_token query parameter"))

    if req.mimetype == "application/x-www-form-urlencoded":
        body_tokens = req.form.getlist("access_token")
        if body_tokens:
            # RFC 6750 §2.2: "The HTTP request method is one for which the request-body has
            # defined semantics. In particular, this means that the "GET" method MUST NOT be
            # used."
            if req.method not in ("POST", "PUT", "PATCH"):
                raise InvalidRequest(
                    f"An access_token in the request body is not accepted with {req.method}; "
                    "send an 'Authorization: Bearer' header instead."
                )
            found.append(_single_token(body_tokens, "The access_token body parameter"))

    if len(found) > 1:
        raise InvalidRequest("The request sends an access token in more than one way.")
    return found[0] if found else None


def _single_token(values: list[str], where: str) -> str:
    if len(values) > 1:
        raise InvalidRequest(f"{where} is repeated.")
    if not _B64TOKEN.fullmatch(values[0]):
        raise InvalidRequest(f"{where} does not hold a well-formed bearer token.")
    return values[0]


# -- checking the token ----------------------------------------------------------------------


@dataclass(frozen=True)
class AccessToken:
    """What a valid access token says: who, through which client, and what it may do."""

    sub: str
    client_id: str
    scopes: frozenset[str]
    claims: Mapping[str, Any] = field(repr=False)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class _Verified(NamedTuple):
    """A token that passed every check once: the key its signature held under, and what it
    grants."""

    kid: str
    key: RSAPublicKey
    access: AccessToken


class TokenValidator:
    """Checks RFC 9068 JWT access tokens against the issuer's keys, and optionally asks the
    issuer (RFC 7662) whether each one is still active: on every request, or only on those
    that change something (``introspect_writes``).

    A client sends the same token many times while it lives, so a token that passed every
    check is remembered (by its SHA-256) with the key object that verified it. Later requests
    with it skip the decoding, the RSA verification and the checks of claims that cannot
    change, for as long as the issuer's key set still holds that very object under that kid (a
    key withdrawn, or any refetch of the JWKS, means a full verification again); the time
    claims (exp, nbf, iat) are checked against the clock on every request.
    """

    def __init__(
        self,
        issuer: IssuerClient,
        *,
        audience: str,
        clock: Callable[[], float],
        leeway: float = 30,
        introspection: bool = False,
        introspect_writes: bool = False,
        introspection_cache_ttl: float = 5,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self.leeway = leeway
        self.introspection = introspection
        self.introspect_writes = introspect_writes
        self.introspection_cache_ttl = introspection_cache_ttl
        # RFC 9068 §2.2 makes these claims REQUIRED; §4 says how to check iss, aud and exp.
        # Built once: it reads the clock itself on each validation.
        self._claims_registry = JWTClaimsRegistry(
            now=lambda: int(self.clock()),
            leeway=int(leeway),
            iss={"essential": True, "value": issuer.issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
        )
        self._lock = threading.Lock()
        # Keyed by sha256(token), so a memory dump holds no tokens.
        self._verified: dict[bytes, _Verified] = {}
        # sha256(token) -> (active, reuse until).
        self._introspection_cache: OrderedDict[bytes, tuple[bool, float]] = OrderedDict()

    def validate(self, token: str, *, writing: bool = False) -> AccessToken:
        """The token's content if it is valid now; raises InvalidToken otherwise.

        ``writing``: the request changes something, which with ``introspect_writes`` the
        issuer is asked about even when reads are checked locally.
        """
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("The access token is too long.")
        segments = token.split(".")
        if len(segments) != 3:
            raise InvalidToken("The access token is not a signed JWT.")
        try:
            digest = hashlib.sha256(token.encode("ascii")).digest()
        except UnicodeEncodeError as error:
            raise InvalidToken("The access token is malformed.") from error
        remembered = self._verified.get(digest)
        if remembered is not None and self.issuer.signing_key(remembered.kid) is remembered.key:
            access = remembered.access
            self._check_times(access.claims)
        else:
            kid, key, claims = self._verify(token, segments)
            access = self._check_claims(claims)
            self._remember_verified(digest, _Verified(kid, key, access))
        if self.introspection or (writing and self.introspect_writes):
            self._check_active(token, digest, access.claims["exp"])
        return access

    def _verify(self, token: str, segments: list[str]) -> tuple[str, RSAPublicKey, dict[str, Any]]:
        """The kid, the key that verified the signature, and the claims."""
        # Each segment is decoded once, and the key is a ready public key from the cached
        # JWKS: two base64 decodes, one small JSON header, one RSA verify and the claims'
        # JSON, with no JOSE object model built around them.
        header_segment, payload_segment, signature_segment = segments
        if len(header_segment) > MAX_HEADER_SEGMENT_LENGTH:
            raise InvalidToken("The access token is malformed.")
        try:
            header = json.loads(_b64url(header_segment))
            payload = _b64url(payload_segment)
            signature = _b64url(signature_segment)
        except (binascii.Error, ValueError, RecursionError) as error:
            raise InvalidToken("The access token is malformed.") from error
        if not isinstance(header, dict):  # '["alg"]' is JSON, but no JOSE header
            raise InvalidToken("The access token is malformed.")

        # Decide on the algorithm before touching any key: "none", or HS256 keyed with the
        # public key's bytes, must never reach a verifier (RFC 8725 §3.1).
        if header.get("alg") != "RS256":
            raise InvalidToken("The access token must be signed with RS256.")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCESS_TOKEN_TYPES:
            # RFC 9068 §4: "Resource servers MUST verify that the typ header value is at+jwt
            # or application/at+jwt and reject tokens carrying any other value."
            raise InvalidToken("The token is not a JWT access token (typ must be at+jwt).")
        if "crit" in header or "b64" in header:
            raise InvalidToken("The access token uses header extensions this API does not know.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("The access token does not name its signing key (kid).")

        key = self.issuer.signing_key(kid)
        if key is None:
            raise InvalidToken("The access token is signed with a key the issuer does not publish.")
        # RFC 7515 §5.2: the signature covers the segments exactly as they were sent.
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
        try:
            key.verify(signature, signing_input, PKCS1v15(), SHA256())
        except InvalidSignature as error:
            raise InvalidToken("The access token's signature is invalid.") from error

        try:
            claims = json.loads(payload)
        except (ValueError, RecursionError) as error:
            raise InvalidToken("The access token's claims are not JSON.") from error
        if not isinstance(claims, dict):
            raise InvalidToken("The access token's claims are not a JSON object.")
        return kid, key, claims

    def _remember_verified(self, digest: bytes, verified: _Verified) -> None:
        # Reads take no lock (a dict lookup is atomic); only writers evict, one at a time.
        with self._lock:
            self._verified[digest] = verified
            while len(self._verified) > VERIFIED_TOKENS_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # the oldest entry

    def _check_claims(self, claims: dict[str, Any]) -> AccessToken:
        with _claim_errors():
            self._claims_registry.validate(claims)

        sub, client_id, scope = claims["sub"], claims["client_id"], claims.get("scope", "")
        if len(sub) > SUB_MAX_LENGTH:
            raise InvalidToken("The access token's sub claim is too long.")
        if not _storable_text(sub):
            # Stored and queried as owner_sub: PostgreSQL refuses NUL in text, and neither
            # database takes a lone surrogate (a "\ud800" JSON escape); either would be a 500.
            raise InvalidToken(_claim_fault("sub"))
        if not isinstance(client_id, str):
            raise InvalidToken(_claim_fault("client_id"))
        if not isinstance(scope, str):
            # RFC 9068 §2.2.3: scope is a space-separated string (RFC 8693 §4.2).
            raise InvalidToken(_claim_fault("scope"))
        return AccessToken(sub, client_id, frozenset(scope.split()), MappingProxyType(claims))

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        """The checks of a token that passed them all before and that time can undo."""
        registry = self._claims_registry
        with _claim_errors():
            registry.validate_exp(claims["exp"])
            registry.validate_iat(claims["iat"])
            if "nbf" in claims:
                registry.validate_nbf(claims["nbf"])

    def _check_active(self, token: str, digest: bytes, expires_at: float) -> None:
        # An answer is reused for at most the cache TTL, and never past the token's expiry.
        now = self.clock()
        with self._lock:
            cached = self._introspection_cache.get(digest)
        if cached is not None and now < cached[1]:
            active = cached[0]
        else:
            # RFC 7662 §2.2: "active" is the one member every answer has.
            active = self.issuer.introspect(token)["active"] is True
            if self.introspection_cache_ttl > 0:
                self._remember(digest, active, min(now + self.introspection_cache_ttl, expires_at))
        if not active:
            raise InvalidToken("The access token has been revoked or is no longer active.")

    def _remember(self, digest: bytes, active: bool, until: float) -> None:
        now = self.clock()
        with self._lock:
            cache = self._introspection_cache
            cache[digest] = (active, until)
            cache.move_to_end(digest)
            if len(cache) > INTROSPECTION_CACHE_SIZE:
                for stale in [d for d, (_, reuse_until) in cache.items() if reuse_until <= now]:
                    del cache[stale]
            while len(cache) > INTROSPECTION_CACHE_SIZE:
                cache.popitem(last=False)


@contextmanager
def _claim_errors() -> Iterator[None]:
    """joserfc's claim errors as RFC 6750 invalid_token answers."""
    try:
        yield
    except ExpiredTokenError as error:
        raise InvalidToken("The access token expired.") from error
    except MissingClaimError as error:
        raise InvalidToken(f"The access token lacks the claim(s) {error.claim}.") from error
    except ClaimError as error:
        raise InvalidToken(_claim_fault(error.claim)) from error


def _b64url(segment: str) -> bytes:
    # joserfc's decoder is the strict one: unpadded base64url only, so that one token has
    # exactly one spelling (binascii.Error, a ValueError, otherwise).
    return urlsafe_b64decode(segment.encode("ascii"))


def _storable_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _claim_fault(claim: str) -> str:
    return {
        "iss": "The access token was issued by another issuer.",
        "aud": "The access token is meant for another audience.",
        "nbf": "The access token is not valid yet.",
        "iat": "The access token claims to be issued in the future.",
    }.get(claim, f"The access token's {claim} claim is invalid.")


# -- wiring ----------------------------------------------------------------------------------


def init_protection(app: Flask) -> None:
    config = app.config
    issuer = IssuerClient(
        config["ISSUER"],
        clock=config["CLOCK"],
        connect_timeout=config["ISSUER_CONNECT_TIMEOUT"],
        read_timeout=config["ISSUER_READ_TIMEOUT"],
        metadata_max_age=config["METADATA_MAX_AGE"],
        jwks_max_age=config["JWKS_MAX_AGE"],
        min_refetch_interval=config["ISSUER_MIN_REFETCH_INTERVAL"],
        introspection_client_id=config["INTROSPECTION_CLIENT_ID"],
        introspection_client_secret=config["INTROSPECTION_CLIENT_SECRET"],
    )
    app.extensions["resource_api.tokens"] = TokenValidator(
        issuer,
        audience=config["AUDIENCE"],
        clock=config["CLOCK"],
        leeway=config["LEEWAY"],
        introspection=config["INTROSPECTION"],
        introspect_writes=config["INTROSPECT_WRITES"],
        introspection_cache_ttl=config["INTROSPECTION_CACHE_TTL"],
    )


def token_validator(app: Flask) -> TokenValidator:
    """The app's validator; its ``issuer.session`` is where a transport adapter is mounted."""
    return app.extensions["resource_api.tokens"]


def require_scope(*scopes: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Let the view run only for a valid access token holding every one of ``scopes``.

    The scopes are kept on the view (``required_scopes``) so the OpenAPI document shows
    exactly what the code enforces.
    """
    required = frozenset(scopes)

    def decorator(view: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(view)
        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            g.access_token = authenticate(required)
            return view(*args, **kwargs)

        guarded.required_scopes = tuple(scopes)  # type: ignore[attr-defined]
        return guarded

    return decorator


def authenticate(required: frozenset[str]) -> AccessToken:
    token = extract_bearer_token(request, allow_query=current_app.config["ALLOW_QUERY_TOKEN"])
    if token is None:
        raise MissingToken()
    access = token_validator(current_app).validate(
        token, writing=request.method not in SAFE_METHODS
    )
    check_binding(token, access)
    if not required <= access.scopes:
        # RFC 6750 §3.1: 403 with the scope "necessary to access the requested resource".
        raise InsufficientScope(
            "The access token does not grant the scope this request needs.",
            scope=" ".join(sorted(required)),
        )
    return access


def check_binding(token: str, access: AccessToken) -> None:
    """RFC 9449 §7: a token bound to a key (``cnf.jkt``) only as ``Authorization: DPoP`` with a
    proof of that key for this request; a bearer token only as a bearer token (under the DPoP
    scheme it would claim a binding it does not have)."""
    scheme = request.headers.get("Authorization", "").strip().partition(" ")[0].lower()
    try:
        jkt = dpop.bound_key(access.claims)
    except dpop.ProofRefused as problem:
        raise InvalidToken(str(problem)) from None
    if jkt is None:
        if scheme == "dpop":
            raise InvalidToken("This access token is not DPoP-bound: send it as a Bearer token.")
        return
    if scheme != "dpop":
        # §7.2: a bound token sent as a bearer token is refused, whatever the proof.
        raise InvalidToken(
            "This access token is bound to a DPoP key: send it as 'Authorization: DPoP <token>' "
            "with a DPoP proof."
        )
    try:
        dpop.check(
            request.headers.getlist("DPoP"),
            jkt=jkt,
            token=token,
            method=request.method,
            url=_public_url(),
            now=current_app.config["CLOCK"](),
        )
    except dpop.ProofRefused as problem:
        raise InvalidDPoPProof(str(problem)) from None


def _public_url() -> str:
    """This request's URL as clients address it: the API's identifier (``AUDIENCE``, its public
    origin) with the request's path, so a proxy in front (another Host, http inside) changes
    nothing; the URL Flask saw when the identifier is no http(s) URL."""
    audience = urlsplit(current_app.config["AUDIENCE"])
    if audience.scheme not in ("http", "https"):
        return request.base_url
    return f"{audience.scheme}://{audience.netloc}{request.script_root}{request.path}"


def current_token() -> AccessToken:
    """The access token of the request, inside a view guarded by ``require_scope``."""
    return g.access_token
