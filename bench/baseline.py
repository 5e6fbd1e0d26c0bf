"""The baseline: a bare Flask app served exactly like ours, to compare against in the same run.

    gunicorn --config scripts/gunicorn.conf.py 'bench.baseline:create_app()'

``GET /hello`` is Flask's floor per request; ``POST /insert`` reads a form and inserts one row
with Flask-SQLAlchemy into its own database (``BENCH_BASELINE_DATABASE_URL``, SQLite or
PostgreSQL like the services), which is the floor for an endpoint that writes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, abort, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, String, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Row(db.Model):
    __tablename__ = "bench_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    # WAL and the busy timeout as the authorization server sets them. ``synchronous`` stays at
    # SQLite's default (FULL: each commit waits for its sync) as a bare Flask-SQLAlchemy app has
    # it, the floor issue 15 defined; the server runs NORMAL (synced at checkpoints, see
    # authserver/__init__.py), so its commits wait less than this baseline's.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def create_app(database_url: str | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url or os.environ.get(
        "BENCH_BASELINE_DATABASE_URL", "sqlite://"
    )
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    db.init_app(app)

    @app.get("/hello")
    def hello() -> dict:
        return {"hello": "world"}

    @app.post("/insert")
    def insert() -> tuple[dict, int]:
        row = Row(name=request.form.get("name", "")[:100], created_at=datetime.now(UTC))
        db.session.add(row)
        db.session.commit()
        return {"id": row.id}, 201

    @app.get("/read")
    def read() -> dict:
        # One indexed read (the primary key), as a token lookup is: a floor for endpoints that
        # read one row, which ``--all`` measures beside ``/hello``.
        row = db.session.get(Row, SEEDED_ROW)
        if row is None:
            abort(404)
        return {"id": row.id, "name": row.name}

    return app


#: The row ``/read`` reads, made with the table.
SEEDED_ROW = 1


def create_schema(database_url: str) -> None:
    """Create the one table with the row ``/read`` reads (run once, before the workers start)."""
    app = create_app(database_url)
    with app.app_context():
        db.create_all()
        if db.session.get(Row, SEEDED_ROW) is None:
            # The first row of a new table (no id given: PostgreSQL's sequence must make it).
            db.session.add(Row(name="read", created_at=datetime.now(UTC)))
            db.session.commit()
        db.engine.dispose()
