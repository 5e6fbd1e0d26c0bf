"""Signing keys at rest: each private key is stored encrypted under a key-encryption key (KEK)
kept outside the database, so a database copy (``pg_dump``, the SQLite file, a backup) is not
enough to forge a token.

Stored form: ``v1:<kek id>:<base64url(nonce | AES-256-GCM ciphertext)>``. The key's ``kid`` is
the associated data, so a ciphertext moved onto another row does not decrypt; the KEK id (a
short fingerprint of the KEK, never the KEK) picks the right one of the configured KEKs and
names the missing one when none fits. A plaintext PEM is refused rather than read: whoever can
write to the database could otherwise plant a key of their own and sign with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
_NONCE_BYTES = 12
#: HKDF ``info``: the same secret gives other keys elsewhere (the session key, sealed answers).
_KEK_INFO = b"authserver signing-key encryption v1"
_FINGERPRINT_INFO = b"authserver key-encryption key id"


class KeyUnavailable(Exception):
    """A signing key cannot be decrypted with the configured KEKs; the message says why and
    what to set (never any key material). Not a ValueError: it must not pass for bad input."""


@dataclass(frozen=True)
class KeyEncryptionKey:
    id: str
    key: bytes

    def __repr__(self) -> str:  # keep the key itself out of logs and tracebacks
        return f"KeyEncryptionKey(id={self.id!r})"


@dataclass(frozen=True)
class KeyRing:
    """The KEK that encrypts (``current``) and those that may still decrypt (``previous``)."""

    current: KeyEncryptionKey
    previous: tuple[KeyEncryptionKey, ...] = ()
    #: Where ``current`` came from, for the operator: the setting's name.
    source: str = "AUTHSERVER_KEY_ENCRYPTION_KEY"

    def find(self, kek_id: str) -> KeyEncryptionKey | None:
        return next((k for k in (self.current, *self.previous) if k.id == kek_id), None)

    def describe(self) -> str:
        text = f"{self.current.id} (from {self.source})"
        if self.previous:
            text += ", previous " + ", ".join(k.id for k in self.previous)
        return text


def derive_kek(secret: str) -> KeyEncryptionKey:
    """The 256-bit KEK for a secret string (the setting, or the session key when it is unset)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO).derive(
        secret.encode()
    )
    fingerprint = hmac.new(key, _FINGERPRINT_INFO, hashlib.sha256).hexdigest()[:8]
    return KeyEncryptionKey(fingerprint, key)


def key_ring(config: Mapping) -> KeyRing:
    """The KEKs an app's settings name: ``KEY_ENCRYPTION_KEY``, else the ``SECRET_KEY`` (which
    already lives outside the database and is shared by every node), plus the previous ones."""
    explicit = config.get("KEY_ENCRYPTION_KEY")
    current = explicit or config["SECRET_KEY"]
    source = "AUTHSERVER_KEY_ENCRYPTION_KEY" if explicit else "AUTHSERVER_SECRET_KEY"
    previous = config.get("KEY_ENCRYPTION_KEY_PREVIOUS") or ()
    if isinstance(previous, str):  # as the environment gives it; the app's config splits it
        previous = previous.split()
    return _ring(current, tuple(previous), source)


@lru_cache(maxsize=8)
def _ring(current: str, previous: tuple[str, ...], source: str) -> KeyRing:
    # Cached: every signature asks for the ring, and HKDF is not free.
    current_kek = derive_kek(current)
    olds = tuple(k for k in dict.fromkeys(derive_kek(s) for s in previous) if k != current_kek)
    return KeyRing(current_kek, olds, source)


def wrap(private_pem: str, kid: str, ring: KeyRing, purpose: str = "signing key") -> str:
    """``private_pem`` encrypted under the ring's current KEK, bound to ``kid`` and to
    ``purpose`` (a client secret sealed for ``client_secret_jwt`` is no signing key)."""
    kek = ring.current
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(kek.key).encrypt(nonce, private_pem.encode(), _associated_data(kid, purpose))
    return f"{VERSION}:{kek.id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def kek_id_of(stored: str) -> str | None:
    """The id of the KEK a stored key is encrypted under; None if it is not in our format."""
    parts = stored.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == VERSION else None


def is_plaintext(stored: str) -> bool:
    return stored.lstrip().startswith("-----BEGIN")


def unwrap(stored: str, kid: str, ring: KeyRing, purpose: str = "signing key") -> str:
    """The PEM of a stored key, or ``KeyUnavailable`` saying which KEK it needs."""
    if is_plaintext(stored):
        raise KeyUnavailable(
            f"signing key {kid} is stored unencrypted: run `authserver db upgrade`, which "
            "encrypts it under the key-encryption key"
        )
    kek_id = kek_id_of(stored)
    if kek_id is None:
        raise KeyUnavailable(f"signing key {kid} is not in a format this version can read")
    kek = ring.find(kek_id)
    if kek is None:
        raise KeyUnavailable(
            f"signing key {kid} is encrypted under key-encryption key {kek_id}, which is not "
            f"configured (configured: {ring.describe()}); set it in "
            "AUTHSERVER_KEY_ENCRYPTION_KEY or AUTHSERVER_KEY_ENCRYPTION_KEY_PREVIOUS"
        )
    try:
        raw = base64.urlsafe_b64decode(stored.split(":", 2)[2].encode())
        plain = AESGCM(kek.key).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(kid, purpose)
        )
    except (ValueError, InvalidTag):
        raise KeyUnavailable(
            f"signing key {kid} does not decrypt under key-encryption key {kek_id}: the stored "
            "value was altered or belongs to another key"
        ) from None
    return plain.decode()


def rewrapped(stored: str, kid: str, ring: KeyRing) -> str | None:
    """``stored`` encrypted under the current KEK instead, or None if it already is."""
    if kek_id_of(stored) == ring.current.id:
        unwrap(stored, kid, ring)  # proves it decrypts, so nothing unreadable is reported done
        return None
    return wrap(unwrap(stored, kid, ring), kid, ring)


def unreadable(stored_keys: Iterable[tuple[str, str]], ring: KeyRing) -> dict[str, KeyUnavailable]:
    """Why each ``(kid, stored)`` that ``ring`` cannot decrypt cannot be, by kid."""
    problems = {}
    for kid, stored in stored_keys:
        try:
            unwrap(stored, kid, ring)
        except KeyUnavailable as problem:
            problems[kid] = problem
    return problems


def _associated_data(kid: str, purpose: str = "signing key") -> bytes:
    return f"authserver {purpose} {VERSION}\0{kid}".encode()
