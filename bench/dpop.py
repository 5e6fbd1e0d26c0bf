"""DPoP proofs (RFC 9449) for the bench's DPoP rows: one ES256 key, one fresh proof per request.

A proof is single use and must be fresh (the servers accept an ``iat`` up to a minute old), so
each DPoP row is a ``pop`` endpoint whose items are proofs made right before its run: a run
longer than about 50 seconds would reach proofs too old to pass, and says so in its non-2xx.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

from joserfc import jws
from joserfc.jwk import ECKey

#: Seconds of the server's proof window (``policy.DPOP_PROOF_MAX_AGE``) a run may use up.
USABLE_SECONDS = 50


class Prover:
    """A client's DPoP key, making proofs for one method and URL (and access token)."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self.header = {
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": dict(self.key.as_dict(private=False)),
        }

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        return self.proofs(1, method, url, access_token)[0]

    def proofs(
        self, count: int, method: str, url: str, access_token: str | None = None
    ) -> list[str]:
        """``count`` proofs, each with its own ``jti``, all issued now."""
        claims: dict = {"htm": method, "htu": url, "iat": int(time.time())}
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        made = []
        for _ in range(count):
            payload = json.dumps({**claims, "jti": uuid.uuid4().hex}).encode()
            made.append(jws.serialize_compact(self.header, payload, self.key, algorithms=["ES256"]))
        return made
