"""The fast layer: services called directly, each test inside a transaction that is rolled back.

One app per module; each test gets the app's ``db.session`` bound to a connection whose outer
transaction is never committed (the session's commits release savepoints), so nothing a test
writes outlives it and no table is emptied afterwards. For rules that need HTTP, sessions of
other connections or real commits (refusal records, races), use the feature tests instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import scoped_session, sessionmaker

from authserver.extensions import db
from tests.databases import TestDatabase


@pytest.fixture(scope="module")
def service_app(
    test_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    from tests.conftest import _make_app

    app = _make_app(test_database, tmp_path_factory.mktemp("services"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def rolled_back(service_app: Flask, signing_pem: tuple[str, str]) -> Iterator[scoped_session]:
    """``db.session`` inside one transaction that the test never commits."""
    with service_app.app_context():
        connection = db.engine.connect()
        if connection.dialect.name == "sqlite":
            # pysqlite begins transactions lazily and mishandles SAVEPOINT; SQLAlchemy's recipe:
            # let SQLAlchemy emit BEGIN itself.
            connection.connection.driver_connection.isolation_level = None
            event.listen(connection, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        outer = connection.begin()
        original = db.session
        # A plain SQLAlchemy session: Flask-SQLAlchemy's picks its engine whatever it is bound to.
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        )
        try:
            from authserver.services.keys import new_signing_key

            kid, pem = signing_pem
            db.session.add(new_signing_key(kid, pem))
            db.session.flush()
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()
