"""Making DPoP proofs (RFC 9449 §4.2) as a client would, and broken ones as an attacker would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

import dpopproof

#: One key of each kind a proof may be signed with, made once per process.
_KEYS: dict[str, Any] = {}


def key(alg: str = "ES256", name: str = "a") -> Any:
    """A private key for ``alg`` (``name`` tells apart two keys of one kind)."""
    if (alg, name) not in _KEYS:
        if alg == "ES256":
            made: Any = ECKey.generate_key("P-256")
        elif alg in ("RS256", "PS256"):
            made = RSAKey.generate_key(2048)
        else:
            made = OKPKey.generate_key("Ed25519")
        _KEYS[alg, name] = made
    return _KEYS[alg, name]


def public_jwk(private: Any) -> dict[str, Any]:
    return dict(private.as_dict(private=False))


def jkt(private: Any) -> str:
    """RFC 7638 thumbprint of the key's public half."""
    return dpopproof.thumbprint(public_jwk(private))


def ath(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def proof(
    htm: str,
    htu: str,
    *,
    private: Any = None,
    alg: str = "ES256",
    iat: float | None = None,
    jti: str | None = None,
    access_token: str | None = None,
    nonce: str | None = None,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
) -> str:
    """A DPoP proof signed with ``private`` (the ES256 test key by default); ``header`` and
    ``claims`` replace members (None leaves one out)."""
    private = private if private is not None else key(alg)
    jose_header = {"typ": "dpop+jwt", "alg": alg, "jwk": public_jwk(private), **(header or {})}
    payload: dict[str, Any] = {
        "jti": jti or uuid.uuid4().hex,
        "htm": htm,
        "htu": htu,
        "iat": int(time.time() if iat is None else iat),
    }
    if access_token is not None:
        payload["ath"] = ath(access_token)
    if nonce is not None:
        payload["nonce"] = nonce
    payload.update(claims or {})
    jose_header = {k: v for k, v in jose_header.items() if v is not None}
    payload = {k: v for k, v in payload.items() if v is not None}
    algorithms = [jose_header["alg"]] if "alg" in jose_header else None
    return jws.serialize_compact(
        jose_header, json.dumps(payload).encode(), private, algorithms=algorithms
    )


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A JWS put together by hand, for algorithms no signer should make (``none``, a MAC)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(payload).encode()), part(signature)]
    )


def mac_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """An HS256 JWS, as an attacker who knows only public material might forge one."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(mac)}"
