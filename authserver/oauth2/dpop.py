"""DPoP (RFC 9449) at the token and PAR endpoints: the ``DPoP`` header's proof checked
(``dpopproof.check_proof``), its nonce (``security/dpop.py``) and its ``jti`` used once over
every worker and node (``ratelimit.claim_window``), then held to what the request must be bound
to (``policy.dpop_binding_problem``).

Wired to Authlib as a grant extension: each token grant runs ``check_token_request`` on its
documented ``before_create_token_response`` hook, after Authlib validated the request (client,
code, refresh token, device code known) and before any token is made; the grants read the key's
thumbprint back with ``proof_jkt``.
"""

from __future__ import annotations

import hashlib

from authlib.oauth2 import OAuth2Error
from flask import current_app, g
from flask import request as flask_request

import dpopproof

from .. import clock, policy
from ..ratelimit import claim_window
from ..security.dpop import new_nonce, nonce_is_current
from .errors import refused

HEADER = "DPoP"
NONCE_HEADER = "DPoP-Nonce"


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449 §5: the proof is missing where required, malformed, or for another key."""

    error = "invalid_dpop_proof"
    status_code = 400


class UseDPoPNonceError(OAuth2Error):
    """RFC 9449 §8: send the proof again with the nonce in the ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    status_code = 400

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), (NONCE_HEADER, current_nonce())]


def current_nonce() -> str:
    return new_nonce(
        current_app.config["SECRET_KEY"], clock.now().timestamp(), policy.DPOP_NONCE_WINDOW
    )


def request_proof() -> dpopproof.Proof | None:
    """The request's DPoP proof, checked for this endpoint (its issuer-based URL, so a proxy in
    front changes nothing), its nonce if required, its ``jti`` claimed; None without a header.
    Memoised per request: the PAR and token endpoints may ask more than once."""
    if "dpop_proof" in g:
        return g.dpop_proof
    headers = flask_request.headers.getlist(HEADER)
    if not headers:
        g.dpop_proof = None
        return None
    if len(headers) > 1 or "," in headers[0]:  # §4.3 point 1: exactly one
        raise _invalid("The request carries more than one DPoP header.")
    now = clock.now().timestamp()
    try:
        proof = dpopproof.check_proof(
            headers[0].strip(),
            method=flask_request.method,
            url=f"{current_app.config['ISSUER']}{flask_request.path}",
            now=now,
            max_age=policy.DPOP_PROOF_MAX_AGE,
            leeway=policy.DPOP_PROOF_LEEWAY,
            algorithms=policy.DPOP_ALGORITHMS,
        )
    except dpopproof.ProofError as problem:
        raise _invalid(str(problem)) from None
    if current_app.config["DPOP_NONCE_REQUIRED"] and not (
        proof.nonce is not None
        and nonce_is_current(
            proof.nonce, current_app.config["SECRET_KEY"], now, policy.DPOP_NONCE_WINDOW
        )
    ):
        raise refused(
            UseDPoPNonceError("Send the DPoP proof again with the server's nonce."),
            "DPoP proof without the current server nonce",
        )
    # Remembered until the proof is too old to pass the iat check anyway.
    digest = hashlib.sha256(f"{proof.jkt}\0{proof.jti}".encode()).hexdigest()
    seconds = proof.iat + policy.DPOP_PROOF_MAX_AGE - now + policy.DPOP_PROOF_LEEWAY + 1
    if not claim_window(f"dpop:{digest}", max(seconds, 1)):
        raise _invalid("The DPoP proof was used before (jti); make a new one for each request.")
    g.dpop_proof = proof
    return proof


def proof_jkt() -> str | None:
    """The thumbprint of the key this request's proof was made with, None without a proof."""
    proof = request_proof()
    return proof.jkt if proof is not None else None


def check_token_request(grant, *args) -> None:
    """Authlib's ``before_create_token_response`` hook: the proof, and what it must match."""
    request = grant.request
    code = getattr(request, "authorization_code", None)
    refresh_token = getattr(request, "refresh_token", None)
    problem = policy.dpop_binding_problem(
        proof_jkt(),
        client_requires=request.client.dpop_bound_access_tokens,
        code_jkt=code.dpop_jkt if code is not None else None,
        refresh_jkt=refresh_token.family.dpop_jkt if refresh_token is not None else None,
    )
    if problem:
        raise _invalid(problem)


def token_extension(grant) -> None:
    """Registered with each token grant (``register_grant(..., [token_extension])``)."""
    grant.register_hook("before_create_token_response", check_token_request)


def pushed_jkt(named: str | None) -> str | None:
    """RFC 9449 §10.1: the key a pushed request binds its code to: its proof's, which must
    equal a ``dpop_jkt`` sent too; else the ``dpop_jkt`` alone."""
    jkt = proof_jkt()
    if jkt is not None and named is not None and named != jkt:
        raise _invalid("dpop_jkt differs from the key of the request's DPoP proof.")
    return jkt or named


def _invalid(description: str) -> OAuth2Error:
    return refused(InvalidDPoPProofError(description), f"DPoP: {description}")
