"""The keys a client authenticates with by JWT (RFC 7523, OIDC Core §9).

``private_key_jwt``: the public keys it registered, inline (``jwks``) or at its ``jwks_uri``,
fetched through ``security/outbound.py`` (the SSRF guards), kept per process for as long as the
answer's ``Cache-Control`` says (within bounds), and fetched again once when an assertion names
a key the copy lacks (the client rotated), but not more often than ``REFETCH_INTERVAL`` per
client: a stream of made-up ``kid`` values must not turn us into a fetching machine.

``client_secret_jwt``: HS256 under the client secret, which must therefore be readable here.
Every other secret is stored only as a hash; a client registered with this method also has its
secret sealed under the key-encryption key (``security/key_wrapping.py``, the same protection
as the signing keys: a copy of the database alone does not reveal it).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, OctKey, OKPKey

from .. import policy
from ..models import Client
from ..security import key_wrapping, outbound

#: At most this many keys in a registered set; a client needs two during a rotation.
MAX_KEYS = 10
#: Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Each algorithm and the key it needs: type and, for EC and OKP, curve.
KEY_FOR_ALGORITHM = {
    "RS256": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
}
MIN_RSA_BITS = 2048
#: Seconds a fetched key set is kept: the sender's max-age, within these bounds.
JWKS_CACHE_DEFAULT = 300
JWKS_CACHE_MIN = 60
JWKS_CACHE_MAX = 3600
#: Seconds between two fetches of one client's keys prompted by an unknown ``kid``.
REFETCH_INTERVAL = 30
_SECRET_PURPOSE = "client secret"  # noqa: S105 (what is sealed, no secret)


class KeyProblem(Exception):
    """No usable key for this assertion; the message says why (safe to show the client)."""


def jwks_problem(document: object) -> str | None:
    """Why ``document`` is no acceptable registered key set, or None: a JWK Set of at most
    ``MAX_KEYS`` public signing keys of the kinds ``private_key_jwt`` accepts."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        return "jwks must be a JSON object with a 'keys' array."
    keys = document["keys"]
    if not keys or len(keys) > MAX_KEYS:
        return f"jwks must hold between 1 and {MAX_KEYS} keys."
    for key in keys:
        if not isinstance(key, Mapping):
            return "Each key in jwks must be a JSON object."
        if PRIVATE_MEMBERS & set(key):
            return "jwks must hold public keys only: a private key was sent."
        if key.get("kty") not in ("RSA", "EC", "OKP"):
            return "Keys in jwks must be RSA, EC (P-256) or OKP (Ed25519) keys."
        if key.get("use") not in (None, "sig"):
            return "Keys in jwks must be signing keys (use 'sig')."
        if key.get("kty") == "RSA" and _rsa_bits(key.get("n")) < MIN_RSA_BITS:
            return f"RSA keys in jwks must have at least {MIN_RSA_BITS} bits."
    try:
        imported = KeySet.import_key_set(cast(Any, {"keys": [dict(key) for key in keys]}))
    except (JoseError, ValueError, TypeError, KeyError) as error:
        return f"jwks holds a key that cannot be read ({type(error).__name__})."
    for key in imported.keys:
        if isinstance(key, ECKey | OKPKey) and key.get("crv") not in ("P-256", "Ed25519"):
            return "Keys in jwks must be EC keys on P-256 or OKP keys on Ed25519."
    return None


def _rsa_bits(modulus: object) -> int:
    """The size of a JWK's modulus ``n`` (base64url), read before any library sees the key."""
    if not isinstance(modulus, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except ValueError:
        return 0
    return int.from_bytes(raw, "big").bit_length()


def jwks_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a ``jwks_uri``, or None (its addresses are checked at each fetch,
    since a name may resolve elsewhere later)."""
    if len(uri) > 2000:
        return "jwks_uri is too long."
    allow_loopback = bool(current_app.config["OUTBOUND_ALLOW_LOOPBACK"])
    if not uri.startswith("https://") and not (allow_loopback and uri.startswith("http://")):
        return "jwks_uri must be an https URL."
    return None


# --- client_secret_jwt --------------------------------------------------------------------------


def seal_secret(client_id: str, secret: str) -> str:
    """The secret encrypted under the current key-encryption key, bound to its client."""
    ring = key_wrapping.key_ring(current_app.config)
    return key_wrapping.wrap(secret, client_id, ring, purpose=_SECRET_PURPOSE)


def secret_key(client: Client) -> OctKey:
    """The HS256 key of a ``client_secret_jwt`` client: its unsealed secret."""
    if client.sealed_secret is None:
        raise KeyProblem("This client has no secret usable for client_secret_jwt.")
    ring = key_wrapping.key_ring(current_app.config)
    try:
        secret = key_wrapping.unwrap(
            client.sealed_secret, client.client_id, ring, purpose=_SECRET_PURPOSE
        )
    except key_wrapping.KeyUnavailable as error:
        # The operator's problem (a missing KEK), not the client's: say so in the log.
        current_app.logger.error("client secret unavailable: %s", error)
        raise KeyProblem("This client's secret cannot be read; ask the operator.") from None
    return OctKey.import_key(secret)


# --- private_key_jwt ----------------------------------------------------------------------------


@dataclass
class _Fetched:
    keys: KeySet
    expires: float  # time.monotonic() after which it is fetched again
    fetched: float


_cache: dict[tuple[str, str], _Fetched] = {}
_cache_lock = threading.Lock()


def forget_fetched_keys() -> None:
    """Empty this process's copies of fetched key sets (tests; a client's changed jwks_uri is
    another cache key anyway)."""
    with _cache_lock:
        _cache.clear()


def assertion_key(client: Client, header: Mapping[str, Any]) -> Key:
    """The registered public key an assertion with JWS ``header`` must verify under."""
    algorithm = header.get("alg")
    if algorithm not in KEY_FOR_ALGORITHM:
        raise KeyProblem(
            f"The assertion must be signed with one of {', '.join(KEY_FOR_ALGORITHM)}."
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise KeyProblem("The assertion's kid must be a string.")
    if client.jwks is not None:
        found = _pick(KeySet.import_key_set(cast(Any, client.jwks)), algorithm, kid)
    elif client.jwks_uri is not None:
        found = _pick(_fetched(client, refresh=False).keys, algorithm, kid)
        if found is None and kid is not None:
            found = _pick(_fetched(client, refresh=True).keys, algorithm, kid)
    else:
        raise KeyProblem("This client has registered no keys (jwks or jwks_uri).")
    if found is None:
        raise KeyProblem(
            "No registered key matches the assertion's kid and alg."
            if kid is not None
            else "Name the key with kid: more or fewer than one registered key fits the alg."
        )
    return found


def _pick(keys: KeySet, algorithm: str, kid: str | None) -> Key | None:
    key_type, curve = KEY_FOR_ALGORITHM[algorithm]
    fitting = [
        key
        for key in keys.keys
        if key.key_type == key_type
        and (curve is None or key.get("crv") == curve)
        and key.get("alg") in (None, algorithm)
        and (kid is None or key.kid == kid)
    ]
    return fitting[0] if len(fitting) == 1 else None


def _fetched(client: Client, refresh: bool) -> _Fetched:
    uri = client.jwks_uri or ""
    cache_key = (client.client_id, uri)
    now = time.monotonic()
    with _cache_lock:
        held = _cache.get(cache_key)
    if held is not None and now < held.expires:
        if not refresh or now - held.fetched < REFETCH_INTERVAL:
            return held
    try:
        fetched = outbound.fetch_json(
            uri,
            max_bytes=outbound.JWKS_MAX_BYTES,
            allow_loopback=bool(current_app.config["OUTBOUND_ALLOW_LOOPBACK"]),
        )
    except outbound.FetchRefused as error:
        raise KeyProblem(f"The client's jwks_uri could not be used: {error}") from None
    problem = jwks_problem(fetched.document)
    if problem:
        raise KeyProblem(f"The client's jwks_uri could not be used: {problem}")
    keep = JWKS_CACHE_DEFAULT if fetched.max_age is None else fetched.max_age
    keep = min(max(keep, JWKS_CACHE_MIN), JWKS_CACHE_MAX)
    entry = _Fetched(KeySet.import_key_set(cast(Any, fetched.document)), now + keep, now)
    with _cache_lock:
        _cache[cache_key] = entry
    return entry


def assertion_algorithms(method: str) -> tuple[str, ...]:
    return policy.ASSERTION_ALGORITHMS[method]
