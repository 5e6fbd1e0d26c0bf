"""The signing key set kept in the database, shared by every process and machine.

Each process keeps the set in memory (``caches``), reloaded when ``keys rotate`` on any node
bumps its version; a key's PEM is parsed once per process (``security.keys``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from .. import clock
from ..extensions import db
from ..models import SigningKey
from ..security.keys import generate_private_key, public_jwk
from . import caches


@dataclass(frozen=True)
class KeyPair:
    kid: str
    private_pem: str
    created_at: datetime
    retired_at: datetime | None


@dataclass(frozen=True)
class PublishedKeys:
    """The JWKS document, with the ETag of its exact bytes."""

    body: bytes
    etag: str


def _all_keys() -> tuple[KeyPair, ...]:
    rows = db.session.scalars(
        select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
    )
    return tuple(KeyPair(r.kid, r.private_pem, r.created_at, r.retired_at) for r in rows)


def _key_set() -> tuple[KeyPair, ...]:
    return caches.cached(caches.SIGNING_KEYS, "all", _all_keys) or ()


def active_key() -> KeyPair:
    """The newest unretired key; made on first use so a fresh install can issue tokens."""
    active = next((key for key in _key_set() if key.retired_at is None), None)
    if active is None:
        made = rotate_keys()
        active = KeyPair(made.kid, made.private_pem, made.created_at, None)
    return active


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
    caches.bump(caches.SIGNING_KEYS)
    return key


def _publication_window() -> timedelta:
    # A retired key signed tokens until the moment it retired; the longest-lived of them is gone
    # after the longest JWT lifetime we issue, so it must be published at least that long.
    config = current_app.config
    return timedelta(seconds=max(config["ACCESS_TOKEN_TTL"], config["ID_TOKEN_TTL"]) + 60)


def published_keys() -> list[KeyPair]:
    cutoff = clock.now() - _publication_window()
    return [k for k in _key_set() if k.retired_at is None or k.retired_at > cutoff]


def jwks() -> PublishedKeys:
    """The JWKS as served: built once per process for each set of published keys."""
    keys = published_keys() or [active_key()]
    kids = tuple(key.kid for key in keys)

    def build() -> PublishedKeys:
        document = {"keys": [public_jwk(k.kid, k.private_pem) for k in keys]}
        body = json.dumps(document, separators=(",", ":")).encode()
        return PublishedKeys(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    return caches.cached(caches.SIGNING_KEYS, ("jwks", kids), build)


def find_published_key(kid: str) -> KeyPair | None:
    return next((key for key in published_keys() if key.kid == kid), None)
