"""Why a request was refused, in a developer's words: the reason the console's *Recent
activity* shows beside each refused authorization and token request.

Errors this server raises carry their reason (``refused``); Authlib's own errors, raised inside
Authlib, are known by their description (``AUTHLIB_REASONS``) or their code. No reason names a
credential: descriptions name parameters, never their values.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is unknown, or wider than what was granted."""

    error = "invalid_target"
    status_code = 400


def refused(error: OAuth2Error, reason: str) -> OAuth2Error:
    """``error``, carrying the exact reason its client's developer will read."""
    error.reason = reason
    return error


#: Authlib's descriptions of the refusals it raises itself, by what they mean.
AUTHLIB_REASONS = {
    "Invalid 'redirect_uri' in request.": "redirect_uri differs from the authorization request's",
    "Code challenge failed.": "PKCE failure: the code_verifier does not match the code_challenge",
    "Missing 'code_verifier'": "PKCE failure: code_verifier missing",
    "Invalid 'code_verifier'": "PKCE failure: malformed code_verifier",
}


def refusal_reason(error: OAuth2Error | None, code: str, description: str | None) -> str:
    """The reason of a refusal: the one its error carries, else what Authlib's means."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        return reason[:300]
    if description in AUTHLIB_REASONS:
        return AUTHLIB_REASONS[description]
    if code == "invalid_client":
        return "client authentication failed: wrong client secret, or a method it may not use"
    if code == "invalid_scope":
        return f"scope not allowed: {description or 'not registered for this client'}"[:300]
    if code == "unauthorized_client":
        return "grant type not registered for this client"
    if description and "code_challenge" in description:
        return f"PKCE failure: {description}"[:300]
    return (description or code)[:300]
