"""DPoP at the resource (RFC 9449 §7): a token bound to a key (``cnf.jkt``) is honoured only
with a proof made with that key for this very request and token, used once.

The stateless checks are ``dpopproof.check_proof`` (shared with the authorization server, which
this API never imports); what only a resource knows is here: the token's ``cnf.jkt``, the
token's hash (``ath``), and the proofs already seen, kept in this API's own ``dpop_proofs``
table so that every worker and process on its database refuses a replay.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

import dpopproof

from .extensions import db
from .models import DPoPProof

#: The algorithms a proof may be signed with (advertised in metadata and challenges).
ALGORITHMS = dpopproof.ALGORITHMS
#: Seconds a proof's ``iat`` may lie behind this API's clock, and ahead of it.
PROOF_MAX_AGE = 60
PROOF_LEEWAY = 5
#: Seconds between two sweeps of used proofs that can no longer be replayed (per process).
SWEEP_INTERVAL = 60


class ProofRefused(Exception):
    """The proof does not hold the token; the message is the error_description."""


_last_sweep = 0.0
_sweep_lock = threading.Lock()


def bound_key(claims: Any) -> str | None:
    """The thumbprint a token is bound to (RFC 9449 §6.1 ``cnf.jkt``), None for a bearer token;
    a ``cnf`` of any other shape is no binding this API can honour: refused."""
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not jkt:
        raise ProofRefused("The access token's cnf claim names no DPoP key (jkt).")
    return jkt


def check(proofs: list[str], *, jkt: str, token: str, method: str, url: str, now: float) -> None:
    """Raise ``ProofRefused`` unless ``proofs`` (the request's DPoP headers) hold exactly one
    proof, made with the key ``jkt`` for ``method`` and ``url``, carrying ``token``'s hash,
    fresh, and never seen before."""
    if not proofs:
        raise ProofRefused("A DPoP-bound access token needs a DPoP proof header.")
    if len(proofs) > 1 or "," in proofs[0]:
        raise ProofRefused("The request carries more than one DPoP header.")
    try:
        proof = dpopproof.check_proof(
            proofs[0].strip(),
            method=method,
            url=url,
            now=now,
            max_age=PROOF_MAX_AGE,
            leeway=PROOF_LEEWAY,
            access_token=token,
        )
    except dpopproof.ProofError as problem:
        raise ProofRefused(str(problem)) from None
    if proof.jkt != jkt:
        raise ProofRefused("The DPoP proof is signed with another key than the token is bound to.")
    if not _first_use(proof, now):
        raise ProofRefused("The DPoP proof was used before (jti); make a new one per request.")


def _first_use(proof: dpopproof.Proof, now: float) -> bool:
    """Record the proof; False if it was recorded before (on any worker)."""
    _sweep(now)
    key = hashlib.sha256(f"{proof.jkt}\0{proof.jti}".encode()).hexdigest()
    # Kept until the proof is too old to pass the iat check, whatever its jti.
    until = datetime.fromtimestamp(proof.iat + PROOF_MAX_AGE + PROOF_LEEWAY + 1, UTC)
    try:
        # Its own transaction: the view's session may roll back, the use stands.
        with db.engine.begin() as connection:
            connection.execute(insert(DPoPProof).values(key=key, expires_at=until))
    except IntegrityError:
        return False
    return True


def _sweep(now: float) -> None:
    """Delete used proofs that can no longer pass the iat check, at most once a minute per
    process: the table holds about a minute of proofs."""
    global _last_sweep
    if now - _last_sweep < SWEEP_INTERVAL or not _sweep_lock.acquire(blocking=False):
        return
    try:
        _last_sweep = now
        with db.engine.begin() as connection:
            connection.execute(
                delete(DPoPProof).where(DPoPProof.expires_at < datetime.fromtimestamp(now, UTC))
            )
    finally:
        _sweep_lock.release()
