"""What ``GET /api/me`` shows: the token's own claims, filtered by the scopes it carries."""

from __future__ import annotations

from typing import Any

from .protection import AccessToken


def profile_json(token: AccessToken) -> dict[str, Any]:
    """``sub`` always; ``name`` when the token has it; the email only under the ``email`` scope
    (OIDC Core §5.4 puts ``email`` and ``email_verified`` under that scope).

    Access tokens need not carry ``name`` or ``email`` (RFC 9068 §2.2 lists neither), so the
    answer holds what the token has and nothing more: no call back to the issuer.
    """
    profile: dict[str, Any] = {"sub": token.sub}
    if isinstance(token.claims.get("name"), str):
        profile["name"] = token.claims["name"]
    if token.has_scope("email"):
        if isinstance(token.claims.get("email"), str):
            profile["email"] = token.claims["email"]
        if isinstance(token.claims.get("email_verified"), bool):
            profile["email_verified"] = token.claims["email_verified"]
    return profile
