"""Machine secrets (client secrets, codes, refresh tokens): random, stored as SHA-256, compared
in constant time. A fast hash is right here: these have 128-256 bits of entropy, so there is
nothing to brute-force, and the token path must stay fast."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def new_secret(nbytes: int = 32) -> str:
    """``nbytes`` of randomness, URL-safe (32 bytes = 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def verify_secret(value: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(value), expected_hash)


def seal(payload: dict, secret: str, server_key: str | bytes) -> str:
    """``payload`` encrypted (AES-256-GCM) under a key derived (HKDF-SHA256) from ``secret`` and
    ``server_key``.

    Only a holder of ``secret`` can read it back, and only with the server's key: the database
    keeps ``hash_secret(secret)``, from which the key cannot be derived, and ``server_key`` (the
    session key, kept outside the database) makes a copy of the database alone worth nothing.
    """
    nonce = os.urandom(12)
    key = _sealing_key(secret, server_key)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(sealed: str, secret: str, server_key: str | bytes) -> dict | None:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        plain = AESGCM(_sealing_key(secret, server_key)).decrypt(raw[:12], raw[12:], None)
    except (ValueError, InvalidTag):
        return None
    return json.loads(plain)


def _sealing_key(secret: str, server_key: str | bytes) -> bytes:
    salt = server_key.encode() if isinstance(server_key, str) else server_key
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"authserver sealed answer"
    ).derive(secret.encode())
