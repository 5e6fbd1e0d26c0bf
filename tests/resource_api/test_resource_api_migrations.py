"""The API's schema comes from its migrations (``flask --app resource_api db upgrade``), and the
migrations must stay in step with the models."""

from __future__ import annotations

import flask_migrate
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from resource_api.extensions import MIGRATIONS_DIRECTORY, db

from .api_testing import bearer

NEW = {"title": "Standup", "starts_at": "2026-02-02T09:00:00Z", "ends_at": "2026-02-02T09:15:00Z"}


def table_names(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_db_upgrade_creates_the_schema_on_an_empty_database(make_bare_app):
    app = make_bare_app()
    assert table_names(app) == set()
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert table_names(app) == {"alembic_version", "events", "dpop_proofs"}
    with app.app_context():
        with db.engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == "0002"


def test_autogenerate_finds_no_difference_between_models_and_migrations(make_bare_app):
    app = make_bare_app()
    with app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []


def test_drift_check_would_notice_a_model_change(make_bare_app):
    app = make_bare_app()
    with app.app_context():
        flask_migrate.upgrade()
        metadata = sa.MetaData()
        for table in db.metadata.tables.values():
            table.to_metadata(metadata)
        sa.Table("reminders", metadata, sa.Column("id", sa.Integer, primary_key=True))
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert [diff[0] for diff in compare_metadata(context, metadata)] == ["add_table"]


def test_api_works_on_a_migrated_database(make_bare_app, token):
    app = make_bare_app()
    with app.app_context():
        flask_migrate.upgrade()
    client = app.test_client()
    created = client.post("/api/events", headers=bearer(token), json=NEW)
    assert created.status_code == 201
    listed = client.get("/api/events", headers=bearer(token)).get_json()["items"]
    assert listed == [created.get_json()]


def test_downgrade_to_base_removes_the_schema(make_bare_app):
    app = make_bare_app()
    with app.app_context():
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="base")
    assert table_names(app) == {"alembic_version"}


def test_migrations_are_found_wherever_the_app_runs_from(make_bare_app, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    app = make_bare_app()
    assert app.extensions["migrate"].directory == MIGRATIONS_DIRECTORY
    with app.app_context():
        flask_migrate.upgrade()
    assert "events" in table_names(app)
