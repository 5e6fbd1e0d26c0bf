"""The signing key set kept in the database, shared by every process and machine.

Each process keeps the set in memory (``caches``), reloaded when ``keys rotate`` on any node
bumps its version; a key is decrypted and parsed once per process (``security.signing``).

Private keys are stored encrypted under the key-encryption key (``security.key_wrapping``):
every key written here is wrapped under the current KEK, every key used is unwrapped by
``private_key``. A key that cannot be unwrapped raises ``KeyUnavailable`` where it is needed
for signing; the JWKS leaves it out and publishes the keys it can read.

A key's life: *pre-published* (``keys rotate --publish-only``: in the JWKS, signing nothing, so
resource servers fetch it ahead of time), *active* (the newest activated, unretired key signs),
*retired* (signs nothing, stays in the JWKS until every token it signed has expired).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from flask import current_app
from joserfc.jwk import RSAKey
from sqlalchemy import ColumnElement, null, or_, select, update

from .. import clock
from ..extensions import db
from ..models import SigningKey
from ..security import key_wrapping
from ..security.key_wrapping import KeyRing, KeyUnavailable
from ..security.signing import generate_private_key, load_private_key, public_jwk
from . import ServiceError, caches

log = logging.getLogger("authserver.keys")


@dataclass(frozen=True)
class KeyPair:
    kid: str
    #: As stored: encrypted; ``private_key(pair)`` gives the usable key.
    encrypted_private_key: str
    created_at: datetime
    retired_at: datetime | None
    activated_at: datetime | None = None
    withdrawn_at: datetime | None = None

    @property
    def pending(self) -> bool:
        """Pre-published: in the JWKS, not signing yet."""
        return self.activated_at is None and self.retired_at is None


@dataclass(frozen=True)
class PublishedKeys:
    """The JWKS document, with the ETag of its exact bytes."""

    body: bytes
    etag: str


def _all_keys() -> tuple[KeyPair, ...]:
    rows = db.session.scalars(
        select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
    )
    return tuple(_pair(r) for r in rows)


def _pair(row: SigningKey) -> KeyPair:
    return KeyPair(
        row.kid,
        row.encrypted_private_key,
        row.created_at,
        row.retired_at,
        row.activated_at,
        row.withdrawn_at,
    )


def key_ring() -> KeyRing:
    """The key-encryption keys this app is configured with."""
    return key_wrapping.key_ring(current_app.config)


def private_key(key: KeyPair) -> RSAKey:
    """The usable private key (decrypted and parsed once per process), or ``KeyUnavailable``
    naming the key-encryption key it needs."""
    return load_private_key(key.kid, key.encrypted_private_key, key_ring())


def new_signing_key(kid: str, private_pem: str, **columns: object) -> SigningKey:
    """A row for a key, its private key encrypted under the current KEK (not yet added)."""
    stored = key_wrapping.wrap(private_pem, kid, key_ring())
    return SigningKey(kid=kid, encrypted_private_key=stored, **columns)


def _key_set() -> tuple[KeyPair, ...]:
    return caches.cached(caches.SIGNING_KEYS, "all", _all_keys) or ()


def _newest_active(key_set: tuple[KeyPair, ...]) -> KeyPair | None:
    live = [k for k in key_set if k.activated_at is not None and k.retired_at is None]
    return max(live, key=lambda k: cast(datetime, k.activated_at), default=None)  # all activated


def current_active_key() -> KeyPair | None:
    """The key that signs now, or None before the first one is made; never writes (readiness
    and `authserver check` ask it)."""
    return _newest_active(_key_set())


def active_key() -> KeyPair:
    """The newest activated, unretired key; made on first use so a fresh install can sign."""
    active = _newest_active(_key_set())
    if active is None:
        active = _pair(rotate_keys())
    return active


def pending_key() -> SigningKey | None:
    """The newest pre-published key (published, not activated, not retired), if any."""
    return db.session.scalar(
        select(SigningKey)
        .where(SigningKey.activated_at.is_(None), SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        .limit(1)
    )


def rotate_keys() -> SigningKey:
    """Activate the pre-published key if there is one, else a new key; retire the active ones
    (they stay published for a while)."""
    now = clock.now()
    key = pending_key()
    db.session.execute(
        update(SigningKey)
        .where(SigningKey.retired_at.is_(None), SigningKey.activated_at.is_not(None))
        .values(retired_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if key is None:
        kid, pem = generate_private_key()
        key = new_signing_key(kid, pem, created_at=now)
        db.session.add(key)
    key.activated_at = now
    db.session.flush()
    caches.bump(caches.SIGNING_KEYS)
    return key


def publish_next_key() -> SigningKey:
    """A new key in the JWKS that signs nothing until the next ``rotate_keys``.

    One at a time: a second would never be activated (``rotate_keys`` takes the newest).
    """
    waiting = pending_key()
    if waiting is not None:
        raise ServiceError(
            f"Key {waiting.kid} is already published and waiting; run `keys rotate` to activate it."
        )
    active_key()  # a fresh install gets its active key first, so the new one stays pending
    kid, pem = generate_private_key()
    # null(), not None: None would let the column's default (now) activate it.
    key = new_signing_key(kid, pem, created_at=clock.now(), activated_at=null())
    db.session.add(key)
    db.session.flush()
    caches.bump(caches.SIGNING_KEYS)
    return key


def retire_key(kid: str) -> SigningKey:
    """Retire a key that is not the active one (a pre-published or an older key)."""
    key = db.session.scalar(select(SigningKey).where(SigningKey.kid == kid)) if kid else None
    if key is None:
        raise ServiceError(f"No signing key with kid {kid!r}.")
    if key.retired_at is not None:
        raise ServiceError(f"Key {kid} is already retired.")
    if key.kid == active_key().kid:
        raise ServiceError(
            f"Key {kid} is the active signing key; run `keys rotate` to replace it first."
        )
    key.retired_at = clock.now()
    db.session.flush()
    caches.bump(caches.SIGNING_KEYS)
    return key


@dataclass(frozen=True)
class Withdrawn:
    """What ``withdraw_key`` did: the key pulled, and the key that signs instead if the pulled
    one was signing."""

    kid: str
    replaced_by: str | None


def withdraw_key(kid: str) -> Withdrawn:
    """Pull a key out of the JWKS now (it leaked): tokens it signed stop verifying here at once
    (introspection says inactive, UserInfo refuses them); an active key is replaced first by the
    pre-published key or a new one. Resource servers that cached the JWKS keep it until their
    cache expires."""
    key = db.session.scalar(select(SigningKey).where(SigningKey.kid == kid)) if kid else None
    if key is None:
        raise ServiceError(f"No signing key with kid {kid!r}.")
    if key.withdrawn_at is not None:
        raise ServiceError(f"Key {kid} is already withdrawn.")
    replaced_by = None
    current = current_active_key()
    if current is not None and current.kid == key.kid:
        replaced_by = rotate_keys().kid  # retires this one too
    now = clock.now()
    key.retired_at = key.retired_at or now
    key.withdrawn_at = now
    db.session.flush()
    caches.bump(caches.SIGNING_KEYS)
    return Withdrawn(key.kid, replaced_by)


def key_state(key: KeyPair, active_kid: str) -> str:
    if key.withdrawn_at is not None:
        return "withdrawn"
    if key.kid == active_kid:
        return "active"
    if key.pending:
        return "published"
    return "retired" if key.retired_at is not None else "inactive"


def list_keys() -> list[dict]:
    """Every key, newest first, with its state and whether the JWKS lists it."""
    active_kid = active_key().kid
    published = {k.kid for k in published_keys()}
    return [
        {
            "kid": k.kid,
            "state": key_state(k, active_kid),
            "in_jwks": k.kid in published,
            "created_at": _iso(k.created_at),
            "activated_at": _iso(k.activated_at),
            "retired_at": _iso(k.retired_at),
            "withdrawn_at": _iso(k.withdrawn_at),
        }
        for k in _key_set()
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _publication_window() -> timedelta:
    # A retired key signed tokens until the moment it retired; the longest-lived of them is gone
    # after the longest JWT lifetime we issue, so it must be published at least that long.
    config = current_app.config
    return timedelta(seconds=max(config["ACCESS_TOKEN_TTL"], config["ID_TOKEN_TTL"]) + 60)


def published_keys() -> list[KeyPair]:
    cutoff = clock.now() - _publication_window()
    # A pre-published key retired before it signed anything has no token to verify: gone at once;
    # so is a withdrawn key, whose tokens must not verify any more.
    return [
        k
        for k in _key_set()
        if k.withdrawn_at is None
        and (k.retired_at is None or (k.activated_at is not None and k.retired_at > cutoff))
    ]


def unpublished(now: datetime) -> ColumnElement[bool]:
    """The rows no JWKS will list again (withdrawn, or retired longer ago than any token it
    signed can live): their private keys serve nothing, so cleanup deletes them."""
    return or_(
        SigningKey.withdrawn_at.is_not(None),
        SigningKey.retired_at < now - _publication_window(),
    )


def jwks() -> PublishedKeys:
    """The JWKS as served: built once per process for each set of published keys."""
    keys = published_keys() or [active_key()]
    kids = tuple(key.kid for key in keys)

    def build() -> PublishedKeys:
        document = {"keys": [public_jwk(key) for key in _readable(keys)]}
        body = json.dumps(document, separators=(",", ":")).encode()
        return PublishedKeys(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    return caches.cached(caches.SIGNING_KEYS, ("jwks", kids), build)


def find_published_key(kid: str) -> KeyPair | None:
    return next((key for key in published_keys() if key.kid == kid), None)


def _readable(keys: list[KeyPair]) -> list[RSAKey]:
    """The keys this node can decrypt. One it cannot is left out of the JWKS, so the others
    still verify; a JWKS with none at all would be a lie, so that raises."""
    readable, problems = [], []
    for key in keys:
        try:
            readable.append(private_key(key))
        except KeyUnavailable as problem:
            problems.append(problem)
            log.error("signing key left out of the JWKS: %s", problem)
    if not readable and problems:
        raise problems[0]
    return readable


@dataclass(frozen=True)
class KeyStorage:
    """How the stored keys stand against the configured key-encryption keys."""

    total: int
    #: Keys readable only with a previous KEK: ``keys rewrap`` moves them to the current one.
    under_previous: int
    problems: tuple[KeyUnavailable, ...]
    ring: KeyRing


def key_storage() -> KeyStorage:
    """Try to decrypt every stored key with the configured KEKs (reads only)."""
    ring = key_ring()
    rows = db.session.execute(select(SigningKey.kid, SigningKey.encrypted_private_key)).all()
    problems = key_wrapping.unreadable(rows, ring)
    under_previous = sum(
        1
        for kid, stored in rows
        if kid not in problems and key_wrapping.kek_id_of(stored) != ring.current.id
    )
    return KeyStorage(len(rows), under_previous, tuple(problems.values()), ring)


def rewrap_keys() -> tuple[int, int]:
    """Re-encrypt every key under the current KEK, as ``(rewrapped, total)``.

    All or nothing: if any key cannot be decrypted, nothing changes and the error names it
    (and the KEK it needs), so nobody drops a previous KEK that a key still depends on.
    """
    ring = key_ring()
    rows = db.session.scalars(select(SigningKey).order_by(SigningKey.id).with_for_update()).all()
    problems = key_wrapping.unreadable(((r.kid, r.encrypted_private_key) for r in rows), ring)
    if problems:
        raise ServiceError("Nothing was rewrapped: " + "; ".join(map(str, problems.values())) + ".")
    rewrapped = 0
    for row in rows:
        new = key_wrapping.rewrapped(row.encrypted_private_key, row.kid, ring)
        if new is not None:
            row.encrypted_private_key = new
            rewrapped += 1
    if rewrapped:
        db.session.flush()
        caches.bump(caches.SIGNING_KEYS)
    return rewrapped, len(rows)
