"""OpenID Connect Back-Channel Logout 1.0: telling clients that a person's session ended.

When login sessions end (``sessions.end_session``, ``end_all_sessions``), ``queue_logouts``
finds every client the person signed in to in those sessions (token families carrying the
session's ``sid``) that registered a ``backchannel_logout_uri``, and queues one outbox message
each, in the same transaction as the ending: a rolled-back logout tells nobody. The outbox runs
``deliver`` in the background: it signs a ``logout_token`` (§2.4) with the signing key active
at that moment and POSTs it (§2.5) through the SSRF-guarded ``security/outbound.post_form``;
anything but a 2xx is retried with the outbox's backoff until the token's ``exp``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import Client, TokenFamily, User
from ..security import outbound
from ..security.signing import sign_jwt
from . import outbox
from .keys import active_key, private_key

#: The outbox kind (``mail.DELIVERERS`` maps it to ``deliver``).
KIND = "backchannel_logout"
#: §2.4: the one event a logout token carries.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4: the JWT ``typ`` of a logout token (explicit typing, RFC 8725 §3.11).
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type, not a secret


class ReceiverRefused(Exception):
    """The client's back-channel logout URI answered something other than a 2xx."""


def clients_signed_in(user_id: int, sids: Iterable[str]) -> list[tuple[str, str, str]]:
    """(sid, client_id, backchannel_logout_uri) for each client told of logouts that
    ``user_id`` signed in to during the sessions ``sids`` (it received tokens in them)."""
    wanted = sorted({sid for sid in sids if sid})
    if not wanted:
        return []
    rows = db.session.execute(
        select(TokenFamily.session_id, Client.client_id, Client.backchannel_logout_uri)
        .join(Client, Client.id == TokenFamily.client_id)
        .where(
            TokenFamily.user_id == user_id,
            TokenFamily.session_id.in_(wanted),
            Client.backchannel_logout_uri.is_not(None),
            Client.disabled_at.is_(None),
        )
        .distinct()
        .order_by(TokenFamily.session_id, Client.client_id)
    ).all()
    return [(str(sid), str(client_id), str(uri)) for sid, client_id, uri in rows]


def queue_logouts(user: User | int, sids: Iterable[str]) -> int:
    """Queue a logout token for every client signed in to in ``sids`` (flushed, in the
    caller's transaction); how many were queued."""
    user_id = user if isinstance(user, int) else user.id
    subject = user.subject if isinstance(user, User) else db.session.get_one(User, user_id).subject
    lifetime = timedelta(seconds=int(current_app.config["BACKCHANNEL_LOGOUT_TOKEN_LIFETIME"]))
    expires = clock.now() + lifetime
    queued = 0
    for sid, client_id, uri in clients_signed_in(user_id, sids):
        outbox.enqueue(
            KIND,
            uri,
            {
                "client_id": client_id,
                "uri": uri,
                "sub": subject,
                "sid": sid,
                "exp": int(expires.timestamp()),
            },
            expires_at=expires,
        )
        queued += 1
    return queued


def logout_token_claims(payload: Mapping, issuer: str, now: datetime) -> dict:
    """The logout token's claims (§2.4): iss, aud, iat, exp, jti, events, sub and sid; never
    a nonce (§2.4 forbids one, so it cannot pass for an ID token)."""
    return {
        "iss": issuer,
        "aud": payload["client_id"],
        "iat": int(now.timestamp()),
        "exp": int(payload["exp"]),
        "jti": secrets.token_urlsafe(16),
        "sub": payload["sub"],
        "sid": payload["sid"],
        "events": {LOGOUT_EVENT: {}},
    }


def sign_logout_token(claims: dict) -> str:
    """Signed with the key active now (the client verifies it with our JWKS)."""
    return sign_jwt(claims, private_key(active_key()), typ=LOGOUT_TOKEN_TYPE)


def deliver(payload: dict, config: Mapping) -> None:
    """The outbox's deliverer for ``KIND``: sign and POST; raises unless the client said 2xx."""
    now = clock.now()
    if now.timestamp() >= int(payload["exp"]):
        raise ReceiverRefused("the logout token expired before it could be delivered")
    token = sign_logout_token(logout_token_claims(payload, str(config["ISSUER"]), now))
    status = outbound.post_form(
        payload["uri"],
        {"logout_token": token},
        allow_loopback=bool(config["OUTBOUND_ALLOW_LOOPBACK"]),
    )
    if not 200 <= status < 300:
        raise ReceiverRefused(f"the client answered {status}")
