"""Throttling counters shared by every worker and node: a ``limits`` storage on our database.

Flask-Limiter keeps its counters in a ``limits`` storage named by ``RATELIMIT_STORAGE_URI``.
Redis is one (``redis://…``); this module adds ``database://``, fixed-window counters in the
``rate_limit_counters`` table, so a single machine or several nodes on one PostgreSQL share
their counts without running Redis. Each operation is one short transaction on its own
connection, outside the request's unit of work: a throttling count is bookkeeping, not part of
what the request changes.

Keys that carry ``BATCHED_MARK`` (the machine endpoints' counters, ``throttling.py``) are counted
in each process and synced with the table at most once per ``RATELIMIT_SYNC_INTERVAL`` seconds
per key: see ``_Batches``. Every other key (login, sign-up, registration) is exact: each
increment is one atomic upsert returning the new count, so of simultaneous increments from any
number of workers each sees a different count, and a limit tested on that count (a "hit") lets
exactly its amount through. Login attempts use that (``throttling.attempts_limited``): counted
before the password is checked, given back (a negative increment) when it was right. A
negative increment only lowers the window that is open, never below zero, and never opens one:
given back after its window ended, a count must not become credit in the next.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

from flask import current_app
from limits.storage import Storage
from sqlalchemy import case, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .models import RateLimitCounter

_table = RateLimitCounter.__table__

#: Marks a key (at the start of the key function's part) as counted in each process and
#: synced in batches: its counts reach the table at most ``RATELIMIT_SYNC_INTERVAL`` late.
BATCHED_MARK = "batched:"
#: Marks a key whose counts are written at once but whose reads may be that much stale.
CACHED_MARK = "cached:"


def _engine() -> Engine:
    return current_app.extensions["sqlalchemy"].engine


def _add(engine: Engine, key: str, expiry: float, amount: int) -> tuple[int, float]:
    """Add ``amount`` to ``key``'s window (opening a new one if it is over): (count, expiry)."""
    now = time.time()
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
                "expires_at": case((window_over, excluded.expires_at), else_=_table.c.expires_at),
            },
        )
        .returning(_table.c.count, _table.c.expires_at)
    )
    with engine.begin() as connection:
        count, expires_at = connection.execute(statement).one()
    return int(count), float(expires_at)


def _subtract(engine: Engine, key: str, amount: int) -> int:
    """Take ``amount`` off ``key``'s open window (not below zero): the count left, 0 if none."""
    statement = (
        update(_table)
        .where(_table.c.key == key, _table.c.expires_at > time.time())
        .values(count=case((_table.c.count > amount, _table.c.count - amount), else_=0))
        .returning(_table.c.count)
    )
    with engine.begin() as connection:
        count = connection.execute(statement).scalar()
    return int(count) if count is not None else 0


def _read(engine: Engine, key: str) -> tuple[int, float] | None:
    """``key``'s (count, expiry) while its window lasts, else None."""
    with engine.connect() as connection:
        row = connection.execute(
            select(_table.c.count, _table.c.expires_at).where(_table.c.key == key)
        ).first()
    if row is None:
        return None
    count, expires_at = row
    if expires_at <= time.time():
        return None
    return int(count), float(expires_at)


@dataclass
class _Counter:
    """What one process knows of one batched key."""

    shared: int  # the count in the table when last synced (0: no window open)
    expires_at: float | None  # the end of that window (None: no window open)
    synced_at: float
    pending: int = 0  # counted here since, not yet in the table
    expiry: int = 0  # the window's length, for opening the next one


class _Batches:
    """Counting without a transaction per limit on the token endpoint's hot path.

    Every limit is read before the request and counted after it; done against the table, that
    is a read per limit and an upsert with its own COMMIT per counted limit, on every request.
    Here a process keeps what it knows of each key and reads it again only once it is
    ``interval`` seconds old. A *batched* key (the per-client budget, counted on every
    request) is also counted in memory and written (one upsert adding what was counted and
    returning the shared total) at most once an ``interval``; a *cached* key (failed
    authentications: rare, and what stops guessing) is written at once. The first count of a
    window is always written at once. The cost: about one statement a second per busy key and
    process instead of several per request.

    The error bound: a process sees other processes' counts at most ``interval`` late, and a
    batched key's own counts reach the table that late (or, for a process whose traffic
    stopped, at its next request to a machine endpoint). So a limit can be overshot by what the
    key's senders get through other processes in about ``interval`` seconds (at a limit of
    20,000 a minute, some 330 a second per process at most; for failures, the few an attacker
    gets through each other process before its next read). A process sees its own counts
    exactly, so a limit reached through one process trips on the request that reaches it.
    Batched counts of a process that dies are lost (an undercount). ``interval`` 0: all exact.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[str, _Counter] = {}
        self.swept_at = 0.0

    def get(self, engine: Engine, key: str, interval: float) -> _Counter:
        now = time.time()
        with self.lock:
            counter = self.counters.get(key)
        if counter is None or now - counter.synced_at >= interval or _over(counter, now):
            counter = self._sync(engine, key, interval)
        return counter

    def incr(
        self, engine: Engine, key: str, expiry: int, amount: int, interval: float, batched: bool
    ) -> int:
        now = time.time()
        with self.lock:
            counter = self.counters.get(key)
            if counter is not None and not _open(counter, now):
                counter = None  # no window open that this process knows of
            if batched and counter is not None:
                counter.pending += amount
                counter.expiry = expiry
        if not batched or counter is None:
            # Written at once: a cached key's every count, and a batched key's first one in a
            # window (it opens the window for everyone).
            count, expires_at = _add(engine, key, expiry, amount)
            with self.lock:
                still = self.counters.get(key)
                later = still.pending if still is not None and _open(still, now) else 0
                self.counters[key] = _Counter(count, expires_at, now, later, expiry)
            return count + later
        if now - counter.synced_at >= interval:
            counter = self._sync(engine, key, interval)
        self._sweep(engine, interval, now)
        return counter.shared + counter.pending

    def _sync(self, engine: Engine, key: str, interval: float) -> _Counter:
        now = time.time()
        with self.lock:
            counter = self.counters.get(key)
            pending = counter.pending if counter is not None and not _over(counter, now) else 0
            expiry = counter.expiry if counter is not None else 0
            if counter is not None:
                counter.pending -= pending
        shared: int
        expires_at: float | None
        try:
            if pending:
                shared, expires_at = _add(engine, key, expiry, pending)
            else:
                found = _read(engine, key)
                shared, expires_at = found if found else (0, None)
        except BaseException:
            with self.lock:
                if counter is not None:
                    counter.pending += pending  # not written: keep it for the next sync
            raise
        with self.lock:
            # Counts made by other threads while this one talked to the database stay pending.
            still = self.counters.get(key)
            later = still.pending if still is not None and still is counter else 0
            synced = _Counter(shared, expires_at, now, pending=later, expiry=expiry)
            self.counters[key] = synced
        return synced

    def _sweep(self, engine: Engine, interval: float, now: float) -> None:
        """Once an interval: write what waits for keys that saw no request since, forget the
        rest (their next use reads them again), so memory holds only recently used keys."""
        if now - self.swept_at < max(interval, 1.0):
            return
        self.swept_at = now
        with self.lock:
            stale = [k for k, c in self.counters.items() if now - c.synced_at >= interval]
        for key in stale:
            with self.lock:
                counter = self.counters.get(key)
                if counter is None or now - counter.synced_at < interval:
                    continue
                if counter.pending == 0 or _over(counter, now):
                    del self.counters[key]
                    continue
            self._sync(engine, key, interval)


def _over(counter: _Counter, now: float) -> bool:
    return counter.expires_at is not None and counter.expires_at <= now


def _open(counter: _Counter, now: float) -> bool:
    return counter.expires_at is not None and counter.expires_at > now


class DatabaseStorage(Storage):
    """Fixed-window counters in the application's own database (``database://``)."""

    STORAGE_SCHEME = ["database"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # Per engine: two apps in one process (tests) are two "nodes" with their own batches.
        self._batches: weakref.WeakKeyDictionary[Engine, _Batches] = weakref.WeakKeyDictionary()

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def _batched(self, key: str) -> tuple[_Batches, float] | None:
        if "/" + BATCHED_MARK not in key and "/" + CACHED_MARK not in key:
            return None
        interval = float(current_app.config["RATELIMIT_SYNC_INTERVAL"])
        if interval <= 0:
            return None
        engine = _engine()
        batches = self._batches.get(engine)
        if batches is None:
            batches = self._batches.setdefault(engine, _Batches())
        return batches, interval

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        if amount < 0:  # a count given back (exact keys only: the marked ones never are)
            return _subtract(_engine(), key, -amount)
        batched = self._batched(key)
        if batched is not None:
            batches, interval = batched
            batched_writes = "/" + BATCHED_MARK in key
            return batches.incr(_engine(), key, expiry, amount, interval, batched_writes)
        return _add(_engine(), key, expiry, amount)[0]

    def _row(self, key: str) -> tuple[int, float] | None:
        batched = self._batched(key)
        if batched is None:
            return _read(_engine(), key)
        batches, interval = batched
        counter = batches.get(_engine(), key, interval)
        expires_at = counter.expires_at
        if expires_at is None or expires_at <= time.time():  # no window open
            return None
        return counter.shared + counter.pending, expires_at

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
        self._batches.clear()
        with _engine().begin() as connection:
            return connection.execute(delete(_table)).rowcount

    def clear(self, key: str) -> None:
        for batches in list(self._batches.values()):
            with batches.lock:
                batches.counters.pop(key, None)
        with _engine().begin() as connection:
            connection.execute(delete(_table).where(_table.c.key == key))


def claim_window(key: str, seconds: float) -> bool:
    """True for the first caller of ``key`` in a window of ``seconds``, over every process and
    node on this database: a fixed-window counter whose first hit wins."""
    return _add(_engine(), f"claim:{key}", seconds, 1)[0] == 1


def within_window(key: str, seconds: float, limit: int) -> bool:
    """Count one use of ``key`` in a fixed window of ``seconds``, over every process and node on
    this database: True while at most ``limit`` uses fell in the window."""
    return _add(_engine(), f"window:{key}", seconds, 1)[0] <= limit
