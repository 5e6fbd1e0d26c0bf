"""OpenID Connect: the claims about a person each scope releases, and ID tokens."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from flask import current_app

from .. import clock
from ..models import Client, User
from ..security.keys import sign_jwt
from .keys import active_key

#: OIDC Core §5.4 (standard claims by scope), limited to what we hold.
CLAIMS_BY_SCOPE = {
    "openid": ("sub",),
    "profile": ("name", "preferred_username", "updated_at"),
    "email": ("email", "email_verified"),
}


def supported_claims() -> list[str]:
    base = ["iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid"]
    return base + [claim for claims in CLAIMS_BY_SCOPE.values() for claim in claims]


def user_claims(user: User, scopes: list[str] | set[str]) -> dict:
    """The claims ``scopes`` release about ``user`` (OIDC Core §5.4)."""
    claims: dict = {"sub": user.subject}
    if "profile" in scopes:
        claims["name"] = user.name or user.email.split("@")[0]
        claims["preferred_username"] = user.email
        claims["updated_at"] = int(user.updated_at.timestamp())
    if "email" in scopes:
        claims["email"] = user.email
        # We never confirm addresses by mail, so we must not claim they are verified.
        claims["email_verified"] = False
    return claims


def half_hash(value: str) -> str:
    """``at_hash``/``c_hash``: base64url of the left half of SHA-256 (OIDC Core §3.1.3.6)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def make_id_token(
    client: Client,
    user: User,
    scopes: list[str],
    auth_time: datetime | None,
    nonce: str | None = None,
    access_token: str | None = None,
    session_id: str | None = None,
) -> str:
    config = current_app.config
    now = int(clock.now().timestamp())
    claims = {
        "iss": config["ISSUER"],
        "aud": client.client_id,
        # azp: the party the token was issued to (OIDC Core §2); equal to aud here.
        "azp": client.client_id,
        "iat": now,
        "exp": now + int(config["ID_TOKEN_TTL"]),
        "auth_time": int(auth_time.timestamp()) if auth_time else now,
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["at_hash"] = half_hash(access_token)
    if session_id:
        claims["sid"] = session_id
    claims.update(user_claims(user, scopes))
    key = active_key()
    return sign_jwt(claims, key.kid, key.private_pem, typ="JWT")
