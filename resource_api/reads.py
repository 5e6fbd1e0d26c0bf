"""Reads on the hot path, run straight on a pooled DBAPI cursor.

On a request that runs one small SELECT, SQLAlchemy Core's execution machinery (a Connection,
the transaction it begins and rolls back, an execution context, a Result) costs more than the
query: measured under gunicorn, 70 to 180 µs of CPU per ``GET /api/events?limit=1`` (as the
machine is more or less busy), a sixth to a quarter of the request. A ``Read`` lets SQLAlchemy
compile the statement once per database dialect (the SQL, the order of its parameters, and each
column type's conversions: the same functions SQLAlchemy would apply) and then runs it as one
``execute`` and one ``fetchall`` on a connection from the engine's pool.

Only for statements that change nothing. On PostgreSQL the statement runs outside a transaction
(no BEGIN before it, no ROLLBACK after it: one round trip); a connection found dead is
invalidated so that the pool does not hand it out again, as SQLAlchemy itself would.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, cast

from sqlalchemy import Select
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection


class Read:
    """``Read(select(...)).page(engine, params, size)``: rows as named tuples of converted
    values."""

    def __init__(self, statement: Select[Any], row_name: str) -> None:
        self.statement = statement
        self.row_type: Any = namedtuple(  # type: ignore[misc]  # fields known only at run time
            row_name, [column.name for column in statement.selected_columns]
        )
        self._compiled: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()

    def page(self, engine: Engine, params: dict[str, Any], size: int) -> tuple[list[Any], bool]:
        """The first ``size`` rows, and whether there are more: the statement selects one row
        past the page, which is counted and never converted."""
        compiled = self._compiled.get(engine.dialect)
        if compiled is None:
            compiled = self._compiled[engine.dialect] = _Compiled(self.statement, engine.dialect)
        fetched = self._fetch(engine, compiled, params)
        make_row, convert = self.row_type._make, compiled.convert
        return [make_row(convert(raw)) for raw in fetched[:size]], len(fetched) > size

    def _fetch(self, engine: Engine, compiled: _Compiled, params: dict[str, Any]) -> Sequence[Any]:
        dialect = engine.dialect
        parameters = compiled.parameters(params)
        # pysqlite begins no transaction for a SELECT (and switching its isolation level would
        # cost a PRAGMA each way); psycopg would begin one.
        outside_transaction = dialect.name != "sqlite"
        connection = engine.raw_connection()
        # A pooled connection always holds its DBAPI connection (None only once detached).
        dbapi_connection = cast(DBAPIConnection, connection.dbapi_connection)
        try:
            if outside_transaction:
                dialect.set_isolation_level(dbapi_connection, "AUTOCOMMIT")
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(compiled.sql, parameters)
                    fetched = cursor.fetchall()
                finally:
                    cursor.close()
            finally:
                if outside_transaction:
                    dialect.reset_isolation_level(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                connection.invalidate(error)
            raise
        finally:
            connection.close()  # back to the pool
        return fetched


class _Compiled:
    """One statement compiled for one dialect, with its parameter and column conversions."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        # A Select compiles to SQL (an SQLCompiler, with binds and parameter positions).
        compiled = statement.compile(dialect=dialect)
        self.compiled = compiled
        self.sql = compiled.string
        self.positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.bind_conversions: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            conversion = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if conversion is not None:
                self.bind_conversions[name] = conversion
        self.column_conversions = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def parameters(self, params: dict[str, Any]) -> tuple[Any, ...] | MutableMapping[str, Any]:
        # construct_params adds the statement's own values (a literal OFFSET 0, ...) and fails
        # on a parameter left out.
        values = self.compiled.construct_params(params)
        for name, conversion in self.bind_conversions.items():
            if name in values:
                values[name] = conversion(values[name])
        if self.positions is None:
            return values
        return tuple(values[name] for name in self.positions)

    def convert(self, raw: tuple[Any, ...]) -> list[Any]:
        return [
            value if conversion is None else conversion(value)
            for value, conversion in zip(raw, self.column_conversions, strict=True)
        ]
