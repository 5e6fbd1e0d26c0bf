"""Issuing, rotating and revoking tokens: who gets what, independent of HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import delete, select, update

from .. import clock
from ..extensions import db
from ..models import AccessToken, AuthorizationCode, Client, RefreshToken, TokenFamily, User
from ..oauth2.scopes import scope_list
from ..security.keys import ALGORITHM, load_private_key, sign_jwt
from ..security.secrets import hash_secret, new_secret
from .clients import find_client
from .keys import active_key, find_published_key
from .oidc import user_claims


def start_family(
    client: Client,
    user: User | None,
    scope: str,
    authorization_code: AuthorizationCode | None = None,
) -> TokenFamily:
    family = TokenFamily(
        client=client,
        user=user,
        scope=scope,
        authorization_code_id=authorization_code.id if authorization_code else None,
        session_id=authorization_code.session_id if authorization_code else None,
        auth_time=authorization_code.auth_time if authorization_code else None,
        created_at=clock.now(),
    )
    db.session.add(family)
    db.session.flush()
    return family


def mint_access_token(family: TokenFamily, scope: str) -> tuple[str, int]:
    """An RFC 9068 JWT access token for ``family``, recorded by ``jti``; (token, expires_in)."""
    config = current_app.config
    ttl = int(config["ACCESS_TOKEN_TTL"])
    now = clock.now()
    jti = new_secret(16)
    audience = config["DEFAULT_AUDIENCE"]
    client = family.client
    claims = {
        "iss": config["ISSUER"],
        "sub": family.user.subject if family.user else client.client_id,
        "aud": audience,
        "client_id": client.client_id,
        "scope": scope,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl,
        "jti": jti,
    }
    if family.auth_time is not None:
        claims["auth_time"] = int(family.auth_time.timestamp())
    if family.user is not None:
        # RFC 9068 §2.2.3.1: identity claims the scope allows, so the resource API can show
        # a profile without reading our database.
        identity = user_claims(family.user, scope_list(scope))
        identity.pop("sub")
        claims.update(identity)
    key = active_key()
    token = sign_jwt(claims, key.kid, key.private_pem, typ="at+jwt")
    db.session.add(
        AccessToken(
            jti=jti,
            family=family,
            scope=scope,
            audience=audience,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return token, ttl


def refresh_token_allowed(client: Client, granted_scope: str) -> bool:
    """Who gets a refresh token: a client holding the ``refresh_token`` grant, for a person who
    granted ``offline_access`` (OIDC Core §11: access while they are away is theirs to give)."""
    return client.check_grant_type("refresh_token") and "offline_access" in scope_list(
        granted_scope
    )


def family_ends_at(family: TokenFamily) -> datetime:
    """A family's absolute end, however often it is refreshed (``REFRESH_TOKEN_MAX_LIFETIME``)."""
    lifetime = int(current_app.config["REFRESH_TOKEN_MAX_LIFETIME"])
    return family.created_at + timedelta(seconds=lifetime)


def mint_refresh_token(family: TokenFamily) -> str:
    value = new_secret(32)
    now = clock.now()
    sliding_end = now + timedelta(seconds=int(current_app.config["REFRESH_TOKEN_TTL"]))
    db.session.add(
        RefreshToken(
            family=family,
            token_hash=hash_secret(value),
            created_at=now,
            expires_at=min(sliding_end, family_ends_at(family)),
        )
    )
    return value


def token_response(
    family: TokenFamily, access_scope: str, include_refresh_token: bool
) -> dict[str, str | int]:
    """Mint the tokens of one token-endpoint answer (RFC 6749 §5.1); the caller commits."""
    access_token, expires_in = mint_access_token(family, access_scope)
    response: dict[str, str | int] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": access_scope,
    }
    if include_refresh_token:
        response["refresh_token"] = mint_refresh_token(family)
    return response


def find_refresh_token(value: str | None) -> RefreshToken | None:
    if not value or len(value) > 200:
        return None
    return db.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_secret(value))
    )


def refresh_token_usable(token: RefreshToken) -> bool:
    now = clock.now()
    return (
        token.rotated_at is None
        and token.family.revoked_at is None
        and token.expires_at > now
        and family_ends_at(token.family) > now
    )


def claim_refresh_token(token: RefreshToken) -> bool:
    """Mark the token rotated; True for exactly one caller, however many race."""
    result = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def revoke_family(family: TokenFamily, when: datetime | None = None) -> None:
    """Revoke every token of the family; the caller commits."""
    when = when or clock.now()
    if family.revoked_at is None:
        family.revoked_at = when
    db.session.execute(
        update(AccessToken)
        .where(AccessToken.family_id == family.id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=when)
        .execution_options(synchronize_session=False)
    )


def revoke_families_of_code(code: AuthorizationCode) -> int:
    """RFC 6749 §4.1.2: on a second redemption, revoke what the first one issued."""
    families = list(
        db.session.scalars(select(TokenFamily).where(TokenFamily.authorization_code_id == code.id))
    )
    for family in families:
        revoke_family(family)
    return len(families)


def discard_pending_codes(user: User, client: Client) -> int:
    """Codes issued to ``client`` for ``user`` and not yet redeemed stop working (deleted)."""
    result = db.session.execute(
        delete(AuthorizationCode)
        .where(
            AuthorizationCode.user_id == user.id,
            AuthorizationCode.client_id == client.id,
            AuthorizationCode.redeemed_at.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def revoke_families_of(user: User, client: Client) -> int:
    families = list(
        db.session.scalars(
            select(TokenFamily).where(
                TokenFamily.user_id == user.id,
                TokenFamily.client_id == client.id,
                TokenFamily.revoked_at.is_(None),
            )
        )
    )
    for family in families:
        revoke_family(family)
    return len(families)


#: What decoding an attacker's JWT may raise; ValueError covers binascii, JSON and Unicode errors.
_DECODING_ERRORS = (JoseError, ValueError, TypeError, KeyError, AttributeError)


def decode_own_jwt(token: str, typ: str = "at+jwt") -> dict | None:
    """The claims of a JWT this server signed with a still-published key, else None.

    Checks signature (RS256 only), ``typ`` and ``iss``; expiry is the caller's business so that
    introspection can tell "expired" apart from "not ours".
    """
    if not isinstance(token, str) or len(token) > 8192 or token.count(".") != 2:
        return None
    # Every part is attacker-chosen: a header that is a JSON array, base64 of non-UTF-8 bytes,
    # a claims set that is a string... joserfc raises all sorts for those, not only JoseError.
    try:
        header = jws.extract_compact(token.encode()).headers()
        if not isinstance(header, dict):
            return None
        if header.get("alg") != ALGORITHM or header.get("typ") != typ:
            return None
        kid = header.get("kid")
        key = find_published_key(kid) if isinstance(kid, str) else None
        if key is None:
            return None
        decoded = jwt.decode(token, load_private_key(key.kid, key.private_pem), [ALGORITHM])
        claims = dict(decoded.claims)
    except _DECODING_ERRORS:
        return None
    if claims.get("iss") != current_app.config["ISSUER"]:
        return None
    return claims


def find_access_token(token: str) -> AccessToken | None:
    """The record of an access token we issued (revoked or expired ones included)."""
    claims = decode_own_jwt(token)
    jti = claims.get("jti") if claims else None
    if not isinstance(jti, str) or not jti.isprintable() or len(jti) > 200:
        return None
    return db.session.scalar(select(AccessToken).where(AccessToken.jti == jti))


def access_token_active(record: AccessToken) -> bool:
    return (
        record.revoked_at is None
        and record.family.revoked_at is None
        and record.expires_at > clock.now()
    )


def decode_id_token_hint(hint: str | None, allow_expired: bool = True) -> dict | None:
    """The claims of ``hint`` if it is an ID token this server issued to a registered client.

    An access token (``typ`` at+jwt) is no hint, and neither is a token whose ``aud`` names no
    client of ours. Expired ID tokens are accepted by default: RP-Initiated Logout §2 and OIDC
    Core §3.1.2.1 both allow an expired ID token as a hint.
    """
    claims = decode_own_jwt(hint, typ="JWT") if hint else None
    if claims is None:
        return None
    subject, audience = claims.get("sub"), claims.get("aud")
    if not isinstance(subject, str) or not isinstance(audience, str):
        return None
    if find_client(audience) is None:
        return None
    if not allow_expired:
        expires = claims.get("exp")
        if not isinstance(expires, int) or expires <= clock.now().timestamp():
            return None
    return claims
