"""Throw-away databases for test runs: a SQLite file, or a fresh PostgreSQL schema."""

from __future__ import annotations

import os
import secrets

import pytest
import sqlalchemy as sa

from authserver.config import engine_options

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://127.0.0.1:5432/test"


def schema_options(schema: str) -> dict:
    """The server's own PostgreSQL engine options, in a schema of the test run's."""
    options = engine_options(DEFAULT_POSTGRES_URL)
    connect_args = {**options["connect_args"], "options": f"-csearch_path={schema}"}
    return {**options, "connect_args": connect_args}


class TestDatabase:
    """One database for the run: a fresh PostgreSQL schema, or a temporary SQLite file."""

    def __init__(self, url: str, engine_options: dict, schema: str | None) -> None:
        self.url = url
        self.engine_options = engine_options
        self.schema = schema

    @property
    def is_postgresql(self) -> bool:
        return self.url.startswith("postgresql")


def make_postgres_schema(url: str) -> str:
    schema = "test_" + secrets.token_hex(6)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    return schema


def drop_postgres_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


def postgres_url_for_tests(test_database: TestDatabase) -> str:
    """The PostgreSQL server tests that need one use: the run's own, else the local default."""
    if test_database.is_postgresql:
        return test_database.url
    return os.environ.get("AUTHSERVER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def required_postgres_schema(url: str) -> str:
    """A fresh schema at ``url``; fails the test in CI, skips it elsewhere, if it is absent."""
    try:
        return make_postgres_schema(url)
    except sa.exc.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {url}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {url}")


def empty_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Delete every row of ``metadata``'s tables, children first, in one transaction: how each
    test leaves a shared database (its schema stays, for the next test)."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
