"""Per-process caches that stay right on every worker and node.

Each cache is stamped with a version row in ``cache_versions``; whatever changes what a cache
holds bumps its version in the same transaction. A request reads the versions once, and a
cache whose version moved is dropped before it answers: no stale key or client survives a
``keys rotate`` or a console edit on another node, and no timer decides when.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import current_app, g
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import CacheVersion

SIGNING_KEYS = "signing_keys"
CLIENTS = "clients"
#: Entries one cache holds at most; past that it starts afresh (ids arrive from the network).
MAX_ENTRIES = 10_000

T = TypeVar("T")


def current_versions() -> dict[str, int]:
    """Every cache's version, read once per request (or CLI command)."""
    if "cache_versions" not in g:
        rows = db.session.execute(select(CacheVersion.name, CacheVersion.version))
        g.cache_versions = {name: version for name, version in rows}
    return g.cache_versions


def bump(name: str) -> None:
    """Mark what ``name`` caches as changed; part of the caller's unit of work."""
    table = CacheVersion.__table__
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(name=name, version=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.name], set_={"version": table.c.version + 1}
    )
    db.session.execute(statement)
    g.pop("cache_versions", None)


def cached(name: str, key: Hashable, load: Callable[[], T | None]) -> T | None:
    """``load()``'s value for ``key``, kept in this process while ``name``'s version holds.

    None is not kept: an unknown id asked again is looked up again.
    """
    caches = current_app.extensions.setdefault("authserver.caches", {})
    version = current_versions().get(name, 0)
    entry = caches.get(name)
    if entry is None or entry[0] != version:
        entry = caches[name] = (version, {})
    values = entry[1]
    if key in values:
        return values[key]
    value = load()
    if value is not None:
        if len(values) >= MAX_ENTRIES:
            values.clear()
        values[key] = value
    return value
