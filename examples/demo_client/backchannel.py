"""The receiving side of OpenID Connect Back-Channel Logout 1.0: Authserver POSTs a signed
``logout_token`` when a person ends the session in which they signed in here, and this app
ends its own sign-ins of that person (for that session).

The token is validated as §2.6 says: a JWS signed by a key of the issuer's JWKS (fetched again
once for an unknown ``kid``: the server may have rotated), explicitly typed ``logout+jwt``,
``iss`` the issuer, ``aud`` this client, ``iat`` not in the future, ``exp`` not past, the
back-channel logout event, a ``sub`` or a ``sid``, and no ``nonce``. A replayed token is
harmless (ending sign-ins that are gone already changes nothing), so no ``jti`` is kept.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Seconds of clock difference tolerated either way.
LEEWAY = 120


class InvalidLogoutToken(Exception):
    """Not a logout token this app may act on; the message says why (for the log only)."""


def _header(token: str) -> dict:
    try:
        part = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, IndexError) as error:
        raise InvalidLogoutToken("not a JWT") from error
    if not isinstance(header, dict):
        raise InvalidLogoutToken("not a JWT")
    return header


def validate_logout_token(
    token: str,
    *,
    issuer: str,
    client_id: str,
    algorithms: list[str],
    jwks: Callable[[bool], KeySetSerialization],
    now: float,
) -> dict:
    """The claims of ``token`` if it is a valid logout token for this client; else raises.
    ``jwks(force)`` returns the issuer's key set (``force``: fetched again)."""
    if not isinstance(token, str) or not token or len(token) > 10_000:
        raise InvalidLogoutToken("no logout_token")
    header = _header(token)
    if header.get("alg") not in algorithms:
        raise InvalidLogoutToken("unexpected algorithm")
    if header.get("typ") != "logout+jwt":
        raise InvalidLogoutToken("not typed logout+jwt")
    key_set = KeySet.import_key_set(jwks(False))
    kid = header.get("kid")
    if kid is not None and all(key.kid != kid for key in key_set.keys):
        key_set = KeySet.import_key_set(jwks(True))  # a rotated key: look once more
    try:
        claims = dict(jwt.decode(token, key_set, algorithms=algorithms).claims)
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidLogoutToken("bad signature") from error
    if claims.get("iss") != issuer:
        raise InvalidLogoutToken("wrong issuer")
    audience = claims.get("aud")
    if audience != client_id and not (isinstance(audience, list) and client_id in audience):
        raise InvalidLogoutToken("not for this client")
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or issued > now + LEEWAY:
        raise InvalidLogoutToken("iat missing or in the future")
    if not isinstance(expires, int) or expires < now - LEEWAY:
        raise InvalidLogoutToken("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
        raise InvalidLogoutToken("no back-channel logout event")
    if "nonce" in claims:
        raise InvalidLogoutToken("carries a nonce")  # §2.4: it must not pass for an ID token
    sub, sid = claims.get("sub"), claims.get("sid")
    if not isinstance(sub, str) and not isinstance(sid, str):
        raise InvalidLogoutToken("names neither sub nor sid")
    return claims


def sid_of(id_token: str | None) -> str | None:
    """The ``sid`` of an ID token this app validated when it arrived (``views.callback``)."""
    if not id_token or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    sid = claims.get("sid") if isinstance(claims, dict) else None
    return sid if isinstance(sid, str) else None
