"""Pushed authorization requests (RFC 9126): kept hashed for 60 seconds, bound to the client
that pushed them, claimed once.

"Once" is the first opening at the authorization endpoint: ``claim`` marks the row used with one
conditional ``UPDATE`` (so of two simultaneous openings exactly one wins, on any worker or
node). The browser that claimed it may come back to the same ``request_uri`` while the person
logs in and consents (the view remembers the claim in its signed session); nobody else can.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from .. import clock, policy
from ..extensions import db
from ..models import Client, PushedRequest
from ..security.secrets import hash_secret, new_secret
from . import rows_matched

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


def push(client: Client, parameters: dict[str, str]) -> tuple[str, int]:
    """Keep ``parameters`` for ``client``: its ``request_uri`` (shown this once) and lifetime."""
    value = new_secret(32)
    now = clock.now()
    db.session.add(
        PushedRequest(
            request_uri_hash=hash_secret(value),
            client_id=client.id,
            parameters=parameters,
            created_at=now,
            expires_at=now + timedelta(seconds=policy.PUSHED_REQUEST_LIFETIME),
        )
    )
    db.session.flush()
    return REQUEST_URI_PREFIX + value, policy.PUSHED_REQUEST_LIFETIME


def _find(request_uri: str, client: Client) -> PushedRequest | None:
    if not request_uri.startswith(REQUEST_URI_PREFIX) or len(request_uri) > 200:
        return None
    return db.session.scalar(
        select(PushedRequest).where(
            PushedRequest.request_uri_hash
            == hash_secret(request_uri.removeprefix(REQUEST_URI_PREFIX)),
            PushedRequest.client_id == client.id,
        )
    )


def claim(request_uri: str, client: Client) -> dict[str, str] | None:
    """The pushed parameters, claiming the request: None if it is unknown, another client's,
    expired or already claimed. Flushed; the caller commits the claim at once."""
    found = _find(request_uri, client)
    if found is None:
        return None
    now = clock.now()
    claimed = rows_matched(
        update(PushedRequest)
        .where(
            PushedRequest.id == found.id,
            PushedRequest.used_at.is_(None),
            PushedRequest.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return dict(found.parameters) if claimed == 1 else None


def reopen(request_uri: str, client: Client) -> dict[str, str] | None:
    """The parameters of a request this browser claimed before (the caller checked that), while
    the person may still be logging in and consenting."""
    found = _find(request_uri, client)
    if found is None or found.used_at is None:
        return None
    if clock.now() > found.used_at + timedelta(seconds=policy.PUSHED_REQUEST_FLOW_LIFETIME):
        return None
    return dict(found.parameters)
