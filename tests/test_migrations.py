"""Migrations checked, not trusted: upgrade on an empty database, and no drift from the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect

from authserver import create_app
from authserver.extensions import db
from authserver.models import Base


def _fresh_app(tmp_path):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
            "SECRET_KEY": "x" * 32,
        }
    )


def test_upgrade_creates_every_table_on_an_empty_database(tmp_path):
    app = _fresh_app(tmp_path)
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_do_not_drift(app, test_database):
    """The run's database was made by ``upgrade``; autogenerate must find nothing to add."""
    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_schemas": False}
            )
            diff = compare_metadata(context, Base.metadata)
    assert diff == []
