"""RSA signing keys: generation, and a per-process cache so each PEM is parsed once (~39 ms)."""

from __future__ import annotations

from functools import lru_cache

from joserfc import jwt
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"


def generate_private_key() -> tuple[str, str]:
    """A new 2048-bit RSA key as ``(kid, private PEM)``; the kid is its RFC 7638 thumbprint."""
    key = RSAKey.generate_key(2048, private=True)
    return key.thumbprint(), key.as_pem(private=True).decode()


@lru_cache(maxsize=16)
def load_private_key(kid: str, private_pem: str) -> RSAKey:
    return RSAKey.import_key(private_pem, {"kid": kid, "alg": ALGORITHM, "use": "sig"})


def public_jwk(kid: str, private_pem: str) -> dict:
    return load_private_key(kid, private_pem).as_dict(
        private=False, kid=kid, use="sig", alg=ALGORITHM
    )


def sign_jwt(claims: dict, kid: str, private_pem: str, typ: str = "JWT") -> str:
    header = {"alg": ALGORITHM, "typ": typ, "kid": kid}
    return jwt.encode(header, claims, load_private_key(kid, private_pem), algorithms=[ALGORITHM])
