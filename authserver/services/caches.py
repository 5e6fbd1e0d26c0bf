"""Per-process caches that stay right on every worker and node, within a bound.

Each cache is stamped with a version row in ``cache_versions``; whatever changes what a cache
holds bumps its version in the same transaction. Each process reads the versions at most once
per ``CACHE_CHECK_INTERVAL`` seconds (1 by default; 0: once per request), on a connection of its
own, and drops a cache whose version moved before answering from it. So a ``keys rotate``, a
``clients disable`` or a console edit made on another node or by the command line shows on
every worker within that interval (plus the read's own time), and a request between two reads
does no database work for its freshness. A change made in this process drops its caches when
it commits (and when it rolls back: what was read meanwhile may never have been committed), so
it shows here at once.

When the versions cannot be read (the database is away), the process keeps what it read last
and tries again an interval later: what it has cached stays in use (the JWKS goes on answering
resource servers), and whatever needs the database fails as it would anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import Flask, current_app, g
from sqlalchemy import Connection, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from ..extensions import db
from ..models import CacheVersion

SIGNING_KEYS = "signing_keys"
CLIENTS = "clients"
#: Entries one cache holds at most; past that it starts afresh (ids arrive from the network).
MAX_ENTRIES = 10_000

T = TypeVar("T")

log = logging.getLogger("authserver.caches")

#: Where a session keeps what its transaction bumped, to drop again when it ends.
_BUMPED = "authserver.caches.bumped"
_EXTENSION = "authserver.caches"


class _Store:
    """One app's caches in this process, and the versions it last read."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, dict]] = {}
        self.versions: dict[str, int] = {}
        self.read_at: float | None = None  # when it last tried, in seconds of the app's clock
        self.read_ok = False  # read once at least
        self.unreadable = False  # the last attempt failed
        #: Moves whenever anything cached here may have changed (a drop, new versions read):
        #: what was built from the caches is stale once it moved (``views/public_documents``).
        self.generation = 0

    def drop(self, name: str) -> None:
        self.entries.pop(name, None)
        self.generation += 1


def store_of(app: Flask) -> _Store:
    """``app``'s caches in this process (no app context needed)."""
    return _store(app)


def _store(app: Flask) -> _Store:
    store = app.extensions.get(_EXTENSION)
    if store is None:
        store = app.extensions[_EXTENSION] = _Store()
    return store


def current_versions() -> dict[str, int]:
    """Every cache's version as this process last read it, read again once it is older than
    ``CACHE_CHECK_INTERVAL`` (with 0, once per request or command)."""
    app = _the_app()  # once, not through the proxy at every use
    return _versions(app, _store(app))


def _versions(app: Flask, store: _Store) -> dict[str, int]:
    interval = app.config["CACHE_CHECK_INTERVAL"]
    now = app.config["CLOCK"]().timestamp()  # clock.now(), in an app context as here
    if interval > 0:
        # Also when the clock went back (a wall clock set back, a test's clock).
        if store.read_at is None or not 0 <= now - store.read_at < interval:
            _read_versions(store, now)
    elif "cache_versions_read" not in g:
        _read_versions(store, now)
        g.cache_versions_read = True
    return store.versions


def _read_versions(store: _Store, now: float) -> None:
    try:
        # A connection of its own: the request's transaction is not begun (or spoilt) by it.
        with db.engine.connect() as connection:
            rows = connection.execute(select(CacheVersion.name, CacheVersion.version)).all()
    except SQLAlchemyError as error:
        if not store.read_ok:
            raise  # nothing read yet, so nothing cached to go on with
        store.read_at = now  # the next attempt waits an interval
        if not store.unreadable:
            reason = getattr(error, "orig", None) or error
            log.warning("cache versions unreadable, keeping those read last: %s", reason)
        store.unreadable = True
        return
    if store.unreadable:
        log.info("cache versions readable again")
    store.unreadable = False
    store.read_ok = True
    store.read_at = now
    versions = {name: version for name, version in rows}
    if versions != store.versions:
        store.generation += 1
    store.versions = versions


def bump(name: str) -> None:
    """Mark what ``name`` caches as changed; part of the caller's unit of work."""
    table = CacheVersion.__table__
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(name=name, version=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.name], set_={"version": table.c.version + 1}
    )
    db.session.execute(statement)
    store = _store(_the_app())
    store.drop(name)  # the rest of this transaction reads the change it makes
    db.session.info.setdefault(_BUMPED, set()).add((store, name))


def bump_on(connection: Connection, name: str) -> None:
    """``bump`` in a transaction of the caller's own (``connection``), for a write that is no
    part of the request's unit of work; dropped here at once, elsewhere at their next check."""
    table = CacheVersion.__table__
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(name=name, version=1)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.name], set_={"version": table.c.version + 1}
        )
    )
    _store(_the_app()).drop(name)


@event.listens_for(Session, "after_commit")
def _drop_committed(session: Session) -> None:
    # Dropped again: another thread may have cached the old rows since the bump.
    for store, name in session.info.pop(_BUMPED, ()):
        store.drop(name)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    # What was cached after the bump may have come from the rows now rolled back.
    bumped = session.info.get(_BUMPED, ())
    for store, name in bumped:
        store.drop(name)
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_BUMPED, None)


def _the_app() -> Flask:
    """The app behind ``current_app``, read once instead of through the proxy at every use."""
    return current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy's


def cached(name: str, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s value for ``key``, kept in this process while ``name``'s version holds.

    None is not kept: an unknown id asked again is looked up again.
    """
    app = _the_app()
    store = _store(app)
    version = _versions(app, store).get(name, 0)
    entry = store.entries.get(name)
    if entry is None or entry[0] != version:
        entry = store.entries[name] = (version, {})
    values = entry[1]
    if key in values:
        return values[key]
    value = load()
    if value is not None:
        if len(values) >= MAX_ENTRIES:
            values.clear()
        values[key] = value
    return value
