"""People's passwords: bcrypt, and nothing else uses it (it is ~300 ms a check by design)."""

from __future__ import annotations

import base64
import hashlib

import bcrypt


def _prehash(password: str) -> bytes:
    # bcrypt reads only 72 bytes; a SHA-256 pre-hash lets long passphrases count in full.
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def check_password(password: str, password_hash: str) -> bool:
    return bcrypt.checkpw(_prehash(password), password_hash.encode())


_dummy_hashes: dict[int, str] = {}


def burn_password_check(password: str, rounds: int = 12) -> None:
    """Spend a check's time when the email is unknown, so timing does not reveal accounts."""
    bcrypt.checkpw(_prehash(password), _dummy_hash(rounds).encode())


def _dummy_hash(rounds: int) -> str:
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds)).decode()
    return _dummy_hashes[rounds]
