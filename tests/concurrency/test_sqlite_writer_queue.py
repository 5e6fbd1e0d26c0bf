"""SQLite writers queue on a file lock instead of sleeping in SQLite's busy handler.

Every test sets ``busy_timeout`` to 0, so a write that found the database locked without
queueing would fail at once with "database is locked": a write that waits and then succeeds
proves that it waited in the queue.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from authserver.extensions import db
from authserver.writer_queue import WriterQueueConnection, is_write

CHILD = textwrap.dedent(
    """
    import sqlite3, sys
    from authserver.writer_queue import WriterQueueConnection
    connection = sqlite3.connect(sys.argv[1], factory=WriterQueueConnection)
    connection.execute("PRAGMA busy_timeout=0")
    print("connected", flush=True)
    if sys.argv[2] == "write":
        connection.execute("INSERT INTO rows (who) VALUES ('child')")
        connection.commit()
    else:
        print(connection.execute("SELECT count(*) FROM rows").fetchone()[0], flush=True)
    print("done", flush=True)
    """
)


def _connect(path: Path) -> WriterQueueConnection:
    connection = sqlite3.connect(path, factory=WriterQueueConnection)
    connection.execute("PRAGMA busy_timeout=0")
    return connection


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "queue.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, who TEXT)")
    yield path


def _child(path: Path, action: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter, our script
        [sys.executable, "-c", CHILD, str(path), action],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "connected\n"
    return process


def _finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    """The rest of the child's output, once it exits (read through the same buffered files as
    its first line: ``communicate`` would miss what that read buffered)."""
    assert process.stdout is not None and process.stderr is not None
    with process.stdout, process.stderr:
        out, err = process.stdout.read(), process.stderr.read()
    process.wait(timeout=30)
    return out, err


def _queue_is_free(path: Path) -> bool:
    """Whether the queue's lock could be taken now (by a description of our own)."""
    fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_second_process_waits_for_the_writer_then_writes(database: Path) -> None:
    holder = _connect(database)
    holder.execute("INSERT INTO rows (who) VALUES ('holder')")  # holds the write lock
    child = _child(database, "write")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)  # still queued: without the queue it fails at once
    finally:
        holder.commit()
    out, err = _finish(child)
    assert child.returncode == 0, err
    assert out.endswith("done\n")
    rows = holder.execute("SELECT who FROM rows ORDER BY id").fetchall()
    assert rows == [("holder",), ("child",)]


def test_readers_do_not_queue(database: Path) -> None:
    holder = _connect(database)
    holder.execute("INSERT INTO rows (who) VALUES ('holder')")
    child = _child(database, "read")
    out, err = _finish(child)  # answers while the writer still holds
    assert child.returncode == 0, err
    assert out.splitlines()[-2:] == ["0", "done"]  # the uncommitted row is not seen
    holder.rollback()


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_the_queue_is_left_when_the_transaction_ends(database: Path, end: str) -> None:
    connection = _connect(database)
    assert _queue_is_free(database)
    connection.execute("SELECT count(*) FROM rows").fetchone()
    assert _queue_is_free(database)  # a read takes nothing
    connection.execute("INSERT INTO rows (who) VALUES ('x')")
    assert not _queue_is_free(database)
    getattr(connection, end)()
    assert _queue_is_free(database)


def test_a_failed_write_keeps_its_place_until_the_rollback(database: Path) -> None:
    connection = _connect(database)
    connection.execute("INSERT INTO rows (id, who) VALUES (1, 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute("INSERT INTO rows (id, who) VALUES (1, 'again')")
    assert not _queue_is_free(database)
    connection.rollback()
    assert _queue_is_free(database)


def test_a_write_outside_a_transaction_leaves_at_once(database: Path) -> None:
    connection = sqlite3.connect(database, factory=WriterQueueConnection, isolation_level=None)
    connection.execute("INSERT INTO rows (who) VALUES ('autocommit')")
    assert _queue_is_free(database)
    connection.execute("CREATE TABLE more (id INTEGER PRIMARY KEY)")
    assert _queue_is_free(database)


def test_a_thread_never_waits_for_itself(database: Path) -> None:
    """A second connection of the thread that holds the queue goes on without it, so it meets
    SQLite's own lock (here at once, with busy_timeout 0) instead of waiting forever."""
    first, second = _connect(database), _connect(database)
    first.execute("INSERT INTO rows (who) VALUES ('first')")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("INSERT INTO rows (who) VALUES ('second')")
    first.commit()
    second.rollback()
    second.execute("INSERT INTO rows (who) VALUES ('second')")
    second.commit()
    assert _queue_is_free(database)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO t VALUES (1)",
        "  update t set x = 1",
        "DELETE FROM t",
        "REPLACE INTO t VALUES (1)",
        "CREATE TABLE t (x)",
        "DROP TABLE t",
        "ALTER TABLE t ADD y",
    ],
)
def test_writes_are_recognised(statement: str) -> None:
    assert is_write(statement)


@pytest.mark.parametrize("statement", ["SELECT 1", "PRAGMA journal_mode=WAL", "  select * from t"])
def test_reads_are_not_writes(statement: str) -> None:
    assert not is_write(statement)


def test_the_app_queues_its_sqlite_writes_and_keeps_its_settings(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the writer queue is for SQLite files")
        raw = db.engine.raw_connection()
        try:
            connection = raw.driver_connection
            assert isinstance(connection, WriterQueueConnection)
            assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert connection.execute("PRAGMA busy_timeout").fetchone() == (5000,)
        finally:
            raw.close()
