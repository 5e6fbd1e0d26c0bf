"""Machine secrets (client secrets, codes, refresh tokens): random, stored as SHA-256, compared
in constant time. A fast hash is right here: these have 128-256 bits of entropy, so there is
nothing to brute-force, and the token path must stay fast."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(nbytes: int = 32) -> str:
    """``nbytes`` of randomness, URL-safe (32 bytes = 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def verify_secret(value: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(value), expected_hash)
