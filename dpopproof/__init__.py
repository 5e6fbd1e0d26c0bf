"""Checking a DPoP proof (RFC 9449 §4.3): the pure part both services share.

The authorization server (``authserver/oauth2/dpop.py``) and the resource API
(``resource_api/dpop.py``) each call ``check_proof`` with the request's method and URL and their
own clock, then apply what only they know: the server its nonces and its shared ``jti`` store,
the API the access token's ``cnf.jkt`` and its own replay table. Nothing here reads a setting,
a database or a request, so the two services can share it as they share ``configrules``
without the API importing the server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

#: RFC 9449 §4.2: the proof's ``typ``.
PROOF_TYPE = "dpop+jwt"
#: Asymmetric algorithms only (§4.3 point 6: never ``none`` nor a MAC), the four clients use.
ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
#: Key types whose public members RFC 7638 §3.2 lists; no other may carry a proof.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
#: Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: A proof is a few hundred bytes (an RSA key makes it a little over a kilobyte).
MAX_PROOF_LENGTH = 4096
_MAX_JTI_LENGTH = 256
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: joserfc's own header limit (512 bytes) is too small for a 4096-bit RSA key in ``jwk``, and
#: its default registry admits only its "recommended" algorithms (not PS256 nor EdDSA).
_REGISTRY = jws.JWSRegistry(algorithms=ALGORITHMS)
_REGISTRY.max_header_length = 2048


class ProofError(ValueError):
    """The proof is refused; the message is an RFC 6749 §5.2-safe description."""


@dataclass(frozen=True)
class Proof:
    """A proof that passed every stateless check: its key's thumbprint, and what the caller still
    has to judge (``jti`` single use, ``nonce``)."""

    jkt: str
    jti: str
    iat: int
    nonce: str | None


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    max_age: float,
    leeway: float,
    algorithms: tuple[str, ...] = ALGORITHMS,
    access_token: str | None = None,
) -> Proof:
    """The proof, if it is a well-formed DPoP proof for this request, signed by the public key in
    its header (§4.3 points 2-11); raises ``ProofError`` otherwise.

    ``url``: the request's URI as the client addressed it (query and fragment are ignored).
    ``max_age``: how old ``iat`` may be; ``leeway``: how far ahead of ``now`` it may be.
    ``access_token``: at a resource, the token presented with the proof, whose hash ``ath``
    must carry (§4.3 point 12, §7).
    """
    if len(proof) > MAX_PROOF_LENGTH:
        raise ProofError("The DPoP proof is too long.")
    header = _header(proof)
    if header.get("typ") != PROOF_TYPE:
        raise ProofError("The DPoP proof's typ must be dpop+jwt.")
    alg = header.get("alg")
    if alg not in algorithms:
        raise ProofError(f"The DPoP proof's alg must be one of {' '.join(algorithms)}.")
    key, jwk = _public_key(header.get("jwk"))
    try:
        verified = jws.deserialize_compact(proof, key, algorithms=[alg], registry=_REGISTRY)
        claims = json.loads(verified.payload)
    except (JoseError, ValueError, TypeError, RecursionError) as error:
        raise ProofError("The DPoP proof's signature does not verify with its jwk.") from error
    if not isinstance(claims, dict):
        raise ProofError("The DPoP proof's claims are not a JSON object.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI_LENGTH:
        raise ProofError("The DPoP proof must carry a jti.")
    if claims.get("htm") != method:
        raise ProofError("The DPoP proof's htm is not this request's method.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalized_uri(htu) != normalized_uri(url):
        raise ProofError("The DPoP proof's htu is not this request's URI.")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise ProofError("The DPoP proof must carry a numeric iat.")
    if iat > now + leeway:
        raise ProofError("The DPoP proof's iat is in the future.")
    if iat < now - max_age:
        raise ProofError("The DPoP proof is too old (iat); make a new one for each request.")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or ath != access_token_hash(access_token):
            raise ProofError("The DPoP proof's ath is not the hash of the access token sent.")
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise ProofError("The DPoP proof's nonce must be a string.")
    return Proof(jkt=thumbprint(jwk), jti=jti, iat=int(iat), nonce=nonce)


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: the base64url SHA-256 of the key's required members, in order, no spaces."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: the base64url SHA-256 of the access token's ASCII bytes."""
    return _b64(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def normalized_uri(uri: str) -> str | None:
    """The URI without query and fragment, its scheme and host in lower case, a default port
    dropped and an empty path made ``/`` (RFC 9449 §4.3 point 9, RFC 3986 §6.2.2-6.2.3);
    None for anything that is not an absolute http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def _header(proof: str) -> dict[str, Any]:
    segments = proof.split(".")
    if len(segments) != 3:
        raise ProofError("The DPoP proof is not a signed JWT.")
    try:
        padded = segments[0] + "=" * (-len(segments[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError, RecursionError) as error:
        raise ProofError("The DPoP proof's header is malformed.") from error
    if not isinstance(header, dict):
        raise ProofError("The DPoP proof's header is malformed.")
    return header


def _public_key(jwk: object) -> tuple[Any, dict[str, Any]]:
    """The key in the proof's header (and its JWK), if it is a public key of a type RFC 7638
    covers."""
    if not isinstance(jwk, dict):
        raise ProofError("The DPoP proof's header must carry the public key (jwk).")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise ProofError("The DPoP proof's jwk must be a public key: it holds private members.")
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise ProofError("The DPoP proof's jwk is not an RSA, EC or OKP public key.")
    try:
        return JWKRegistry.import_key(jwk), jwk
    except (JoseError, ValueError, TypeError) as error:
        raise ProofError("The DPoP proof's jwk is not a usable public key.") from error


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
