"""How the API holds its database connections: pool settings per database, and a liveness
check that costs a round trip only after a connection has sat idle.

SQLAlchemy's ``pool_pre_ping`` asks the server before every checkout, which on a request that
runs one statement doubles the round trips. A connection used a moment ago is as alive as the
server is; one that has waited in the pool may have been cut (a restart, an idle timeout on
the way), and only that one is pinged before use.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

#: Seconds a pooled connection may have been idle and still be used without a ping first.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "resource_api.idle_since"


def engine_options(url: str) -> dict[str, Any]:
    """SQLAlchemy ``create_engine`` options for the database at ``url``."""
    if not url.startswith("postgresql"):
        # A file on this machine: no connection to lose, so nothing to ping.
        return {}
    return {
        # Per worker process: a sync worker needs one connection, the rest absorb bursts of
        # threads; recycled before servers drop idle ones.
        "pool_size": 5,
        "max_overflow": 5,
        "pool_recycle": 1800,
        "pool_use_lifo": True,
        # psycopg 3 prepares a statement on the server after it ran this many times on a
        # connection, so the few statements of the API are parsed and planned once.
        "connect_args": {"prepare_threshold": 2},
    }


def ping_after_idle(engine: Engine) -> None:
    """Before a connection that waited longer than ``PING_AFTER_IDLE`` is handed out, check it
    with ``SELECT 1``; a dead one is replaced (the pool retries with a fresh connection)."""
    if engine.dialect.name == "sqlite":
        return
    idle_seconds = PING_AFTER_IDLE

    @event.listens_for(engine, "checkin")
    def _idle_from_now(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # new, or used a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"pooled connection is gone: {error}") from error
        if not alive:
            raise DisconnectionError("pooled connection did not answer a ping")
