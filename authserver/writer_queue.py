"""On SQLite, writers wait in a queue the operating system keeps, not in SQLite's busy handler.

SQLite lets one writer at a time into a database file. A connection that finds the write lock
taken does not wait for it to be released: its busy handler sleeps 1, 2, 5, 10, … up to 100 ms
between tries. With several workers issuing tokens, the waiting worker sleeps through the
moments the lock is free, and the worker holding it takes it again with its next request. Under
load that starves one worker: a refresh or a code exchange then waits for hundreds of ms
(``make bench`` measured a p99 of 0.6–1.1 s for them, and 28 ms for ``client_credentials``).

So before a connection's first write in a transaction, it takes an exclusive ``flock`` on a
file beside the database (``<database>-writer.lock``) and keeps it until that transaction
commits or rolls back. A waiting process sleeps in the kernel and is woken the moment the lock
is released. Reads take nothing: in WAL mode they never wait for a writer.

The lock only orders writers that take it; SQLite's own locking still guarantees correctness,
and its busy timeout still applies to anything that does not queue (another program, or a
second connection of a thread that already holds the queue, which would otherwise wait on
itself). Each process opens the file once (again after a fork: a child must not share its
parent's lock). A process that dies releases its lock with its file descriptors.

PostgreSQL locks rows, not the database, and needs none of this.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

#: How long a thread waits for another thread of this process to finish its write transaction
#: before going on without the queue (SQLite's busy timeout then applies): the 5 s of
#: ``PRAGMA busy_timeout`` the app sets.
_THREAD_WAIT_SECONDS = 5.0

#: Statements that take SQLite's write lock (after leading whitespace, upper-cased).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


def is_write(statement: str) -> bool:
    """Whether ``statement`` writes (and so takes SQLite's write lock when it runs)."""
    return statement.lstrip()[:7].upper().startswith(_WRITES)


class _ProcessQueue:
    """This process's place in one database's queue: an ``flock`` on the lock file, taken by
    one thread (for one connection) at a time."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None
        self._threads = threading.Lock()
        self._holder: WriterQueueConnection | None = None
        self._holder_thread: int | None = None

    def enter(self, connection: WriterQueueConnection) -> bool:
        """Wait for the turn of ``connection``; False if it goes on without the queue."""
        if self._holder_thread == threading.get_ident():
            return False  # this thread already holds it on another connection
        if not self._threads.acquire(timeout=_THREAD_WAIT_SECONDS):
            return False
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:
            self._threads.release()
            return False  # a read-only directory, say: SQLite's own locking still holds
        self._holder = connection
        self._holder_thread = threading.get_ident()
        return True

    def leave(self, connection: WriterQueueConnection) -> None:
        if self._holder is not connection:
            return
        self._holder = None
        self._holder_thread = None
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_queues: dict[str, _ProcessQueue] = {}
_queues_lock = threading.Lock()


def _queue_for(database: str) -> _ProcessQueue:
    path = os.path.abspath(database) + "-writer.lock"
    with _queues_lock:
        queue = _queues.get(path)
        if queue is None:
            queue = _queues[path] = _ProcessQueue(path)
        return queue


def _forget_parent_queues() -> None:
    # The child's copies of the parent's descriptors share the parent's locks; unlocking them
    # here would release the parent's. Dropped unclosed, the child opens its own.
    global _queues, _queues_lock
    _queues = {}
    _queues_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_queues)


class WriterQueueConnection(sqlite3.Connection):
    """A SQLite connection that queues for the database's writer lock before its first write of
    a transaction, and leaves the queue when the transaction ends."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._queue = _queue_for(os.fspath(database))
        self._queued = False

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or WriterQueueCursor)

    # sqlite3's shortcuts make their cursor in C, without ``cursor()``.
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def wait_to_write(self) -> None:
        if not self._queued:
            self._queued = self._queue.enter(self)

    def done_writing(self) -> None:
        if self._queued:
            self._queued = False
            self._queue.leave(self)

    def after_statement(self) -> None:
        # A write outside a transaction (DDL in autocommit, say) is over as soon as it ran.
        if self._queued and not self.in_transaction:
            self.done_writing()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.done_writing()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.done_writing()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.done_writing()


class WriterQueueCursor(sqlite3.Cursor):
    connection: WriterQueueConnection

    def execute(self, sql: str, parameters: Any = (), /) -> WriterQueueCursor:
        return self._in_turn(super().execute, sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> WriterQueueCursor:
        return self._in_turn(super().executemany, sql, seq_of_parameters)

    def _in_turn(self, run: Any, sql: str, parameters: Any) -> WriterQueueCursor:
        if is_write(sql):
            self.connection.wait_to_write()
        try:
            run(sql, parameters)
        finally:
            self.connection.after_statement()
        return self


def use_writer_queue(dialect_name: str, cargs: list[Any], cparams: dict[str, Any]) -> None:
    """For SQLAlchemy's ``do_connect`` event: SQLite files get ``WriterQueueConnection``.

    An in-memory database has no file to share with other processes, and a connection class
    chosen by the caller is left alone.
    """
    if dialect_name != "sqlite" or "factory" in cparams:
        return
    database = str(cargs[0] if cargs else cparams.get("database", ""))
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    cparams["factory"] = WriterQueueConnection
