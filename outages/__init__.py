"""Is a database error an outage (try again shortly: 503) or a bug (a 500 to look into)?

Shared by the authorization server and the resource API (which imports nothing from the
server), so both answer a lost database alike.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError, OperationalError

#: PostgreSQL error classes that mean "no usable connection" (SQLSTATE class 08, and the
#: server shutting down or starting up); a libpq failure to connect at all has no SQLSTATE.
CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")
#: SQLite's primary result codes that mean the file cannot be used right now rather than a
#: statement it refused: BUSY and LOCKED (another writer held it past the busy timeout),
#: IOERR, FULL (the disk), CANTOPEN (the file or its folder gone, or not readable).
SQLITE_UNAVAILABLE = {5, 6, 10, 13, 14}
#: Seconds a client is asked to wait before trying again when the database is away.
RETRY_AFTER_SECONDS = 5


#: What a database driver raises, unwrapped (the resource API reads through raw connections).
DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)


def database_unavailable(error: Exception) -> bool:
    """True when ``error`` (SQLAlchemy's, or a driver's own) says the database could not be
    reached, dropped the connection or cannot be used right now, as opposed to a query it
    refused (a constraint, a missing table: bugs, not outages)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True  # SQLAlchemy saw the connection die mid-use and threw it away
        if not isinstance(error, OperationalError) or error.orig is None:
            return False
        error = error.orig
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in SQLITE_UNAVAILABLE  # extended -> primary
    if isinstance(error, psycopg.OperationalError):
        sqlstate = error.sqlstate  # None when libpq never got an answer
        return sqlstate is None or sqlstate.startswith(CONNECTION_SQLSTATES)
    return False
