"""The signing key set kept in the database, shared by every process and machine."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from .. import clock
from ..extensions import db
from ..models import SigningKey
from ..security.keys import generate_private_key, public_jwk


def active_key() -> SigningKey:
    """The newest unretired key; made on first use so a fresh install can issue tokens."""
    key = db.session.scalar(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        .limit(1)
    )
    return key if key is not None else rotate_keys()


def rotate_keys() -> SigningKey:
    """Make a new active key and retire the others (they stay published for a while)."""
    kid, pem = generate_private_key()
    now = clock.now()
    db.session.execute(
        update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=now)
    )
    key = SigningKey(kid=kid, private_pem=pem, created_at=now)
    db.session.add(key)
    db.session.flush()
    return key


def _publication_window() -> timedelta:
    # A retired key signed tokens until the moment it retired; the longest-lived of them is gone
    # after the longest JWT lifetime we issue, so it must be published at least that long.
    config = current_app.config
    return timedelta(seconds=max(config["ACCESS_TOKEN_TTL"], config["ID_TOKEN_TTL"]) + 60)


def published_keys() -> list[SigningKey]:
    cutoff = clock.now() - _publication_window()
    return list(
        db.session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
            .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        )
    )


def jwks() -> dict:
    keys = published_keys()
    if not keys:
        keys = [active_key()]
    return {"keys": [public_jwk(k.kid, k.private_pem) for k in keys]}


def find_published_key(kid: str) -> SigningKey | None:
    return next((key for key in published_keys() if key.kid == kid), None)
