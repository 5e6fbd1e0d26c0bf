"""OpenID Connect: the claims about a person each scope releases (ID tokens, UserInfo and
access tokens all take them from here)."""

from __future__ import annotations

from ..models import User

#: OIDC Core §5.4 (standard claims by scope), limited to what we hold.
CLAIMS_BY_SCOPE = {
    "openid": ("sub",),
    "profile": ("name", "updated_at"),
    "email": ("email", "email_verified"),
}


def supported_claims() -> list[str]:
    base = ["iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid", "acr", "amr"]
    return base + [claim for claims in CLAIMS_BY_SCOPE.values() for claim in claims]


def user_claims(user: User, scopes: list[str] | set[str]) -> dict:
    """The claims ``scopes`` release about ``user`` (OIDC Core §5.4)."""
    claims: dict = {"sub": user.subject}
    if "profile" in scopes:
        # Nothing derived from the address: it is released only with ``email`` (OIDC Core §5.4),
        # so a person without a name has none here rather than their address's local part.
        if user.name:
            claims["name"] = user.name
        claims["updated_at"] = int(user.updated_at.timestamp())
    if "email" in scopes:
        claims["email"] = user.email
        # True only once the person followed a link mailed to this very address (a change of
        # address takes effect only then, so the address shown is always the verified one).
        claims["email_verified"] = user.email_verified_at is not None
    return claims
