"""Throttling counters shared by every worker and node: a ``limits`` storage on our database.

Flask-Limiter keeps its counters in a ``limits`` storage named by ``RATELIMIT_STORAGE_URI``.
Redis is one (``redis://…``); this module adds ``database://``, fixed-window counters in the
``rate_limit_counters`` table, so a single machine or several nodes on one PostgreSQL share
their counts without running Redis. Each operation is one short transaction on its own
connection, outside the request's unit of work: a throttling count is bookkeeping, not part of
what the request changes.
"""

from __future__ import annotations

import time

from flask import current_app
from limits.storage import Storage
from sqlalchemy import case, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .models import RateLimitCounter

_table = RateLimitCounter.__table__


def _engine() -> Engine:
    return current_app.extensions["sqlalchemy"].engine


class DatabaseStorage(Storage):
    """Fixed-window counters in the application's own database (``database://``)."""

    STORAGE_SCHEME = ["database"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        engine = _engine()
        insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(_table)
        excluded = insert.excluded
        window_over = _table.c.expires_at <= now
        # One statement, so concurrent increments from several workers never lose a count.
        statement = (
            insert.values(key=key, count=amount, expires_at=now + expiry)
            .on_conflict_do_update(
                index_elements=[_table.c.key],
                set_={
                    "count": case((window_over, excluded.count), else_=_table.c.count + amount),
                    "expires_at": case(
                        (window_over, excluded.expires_at), else_=_table.c.expires_at
                    ),
                },
            )
            .returning(_table.c.count)
        )
        with engine.begin() as connection:
            return int(connection.execute(statement).scalar_one())

    def _row(self, key: str) -> tuple[int, float] | None:
        with _engine().connect() as connection:
            row = connection.execute(
                select(_table.c.count, _table.c.expires_at).where(_table.c.key == key)
            ).first()
        if row is None or row.expires_at <= time.time():
            return None
        return int(row.count), float(row.expires_at)

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row[1] if row else time.time()

    def check(self) -> bool:
        try:
            with _engine().connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with _engine().begin() as connection:
            return connection.execute(delete(_table)).rowcount

    def clear(self, key: str) -> None:
        with _engine().begin() as connection:
            connection.execute(delete(_table).where(_table.c.key == key))


def claim_window(key: str, seconds: float) -> bool:
    """True for the first caller of ``key`` in a window of ``seconds``, over every process and
    node on this database: a fixed-window counter whose first hit wins."""
    return DatabaseStorage().incr(f"claim:{key}", seconds) == 1


def purge_expired_counters() -> int:
    """Delete counters whose window has ended (a key may never come back to reset its row)."""
    with _engine().begin() as connection:
        return connection.execute(delete(_table).where(_table.c.expires_at <= time.time())).rowcount
