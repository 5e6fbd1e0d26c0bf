"""DPoP server nonces (RFC 9449 §8) that need no storage: the number of the current time window
and an HMAC of it under the server's key. Every node holding the same key accepts every other
node's nonces, and a nonce stops working one window after its own ended.

Checking the proof itself is ``dpopproof.check_proof`` (shared with the resource API); the
glue that applies it to a token request is ``oauth2/dpop.py``.
"""

from __future__ import annotations

import hashlib
import hmac

_LABEL = b"authserver dpop nonce\0"


def new_nonce(server_key: str | bytes, now: float, window: int) -> str:
    """The nonce of the time window ``now`` falls in."""
    return _nonce_for(server_key, int(now // window))


def nonce_is_current(nonce: str, server_key: str | bytes, now: float, window: int) -> bool:
    """Whether ``nonce`` was given out in this window or the one before (compared in constant
    time, so a guess learns nothing from the answer's timing)."""
    current = int(now // window)
    matches = [
        hmac.compare_digest(nonce.encode("utf-8", "replace"), _nonce_for(server_key, n).encode())
        for n in (current, current - 1)
    ]
    return any(matches)


def _nonce_for(server_key: str | bytes, window_number: int) -> str:
    key = server_key.encode() if isinstance(server_key, str) else server_key
    mac = hmac.new(key, _LABEL + str(window_number).encode(), hashlib.sha256).hexdigest()
    return f"{window_number}.{mac[:43]}"
