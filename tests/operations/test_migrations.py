"""Migrations checked, not trusted: upgrade on an empty database, and no drift from the models."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from authserver import PACKAGE_DIR, create_app
from authserver.extensions import db
from authserver.models import Base, User
from authserver.services import clients, operator, users
from authserver.services.schema import shipped_revisions
from tests.databases import (
    drop_postgres_schema,
    postgres_url_for_tests,
    required_postgres_schema,
    schema_options,
)


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


def test_email_keys_are_given_to_existing_accounts_and_look_alikes_keep_their_own_login(
    tmp_path, capsys
):
    """0009: every account gets its address's key; of look-alike accounts made before keys
    existed, the oldest keeps it (the operator is told of the others), and every one of them
    is still found by the address it was made with."""
    grace, fullwidth = "grace@example.com", "\uff47\uff52\uff41\uff43\uff45@example.com"
    jose_nfd, jose_nfc = "jose\u0301@example.com", "jos\u00e9@example.com"
    app = _fresh_app(tmp_path)
    with app.app_context():
        upgrade(revision="0008_audit_repeats")
        with db.engine.begin() as connection:
            for n, email in enumerate([grace, fullwidth, jose_nfd]):
                connection.execute(
                    text(
                        "INSERT INTO users (subject, email, name, password_hash, created_at,"
                        " updated_at) VALUES (:subject, :email, '', 'x', :at, :at)"
                    ),
                    {"subject": f"s{n}", "email": email, "at": datetime(2026, 1, 1 + n)},
                )

        upgrade()

        keys = dict(db.session.execute(select(User.email, User.email_key)).all())
        assert keys == {
            grace: users.email_key(grace),
            fullwidth: None,
            jose_nfd: users.email_key(jose_nfc),
        }
        # Alembic's logging configuration writes the warning to stderr.
        assert "users 1 and 2 have addresses that read alike" in capsys.readouterr().err
        assert users.find_by_email(fullwidth).email == fullwidth
        assert users.find_by_email("GRACE@example.com").email == grace
        assert users.find_by_email(jose_nfc).email == jose_nfd
        with pytest.raises(users.EmailTaken):
            users.create_user("g\uff52ace@example.com", "a long enough password")
        db.session.rollback()

        downgrade(revision="0008_audit_repeats")
        assert "email_key" not in {c["name"] for c in inspect(db.engine).get_columns("users")}
        db.engine.dispose()


def test_the_factors_downgrade_refuses_while_anyone_has_a_factor(tmp_path, capfd):
    """0011: dropping second factors would silently take a person's protection away, so the
    downgrade refuses (and changes nothing) until ``users reset-mfa`` removed them."""
    app = _fresh_app(tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (subject, email, name, password_hash, created_at,"
                    " updated_at) VALUES ('s', 'ada@example.com', '', 'x', :at, :at)"
                ),
                {"at": datetime(2026, 1, 1)},
            )
            connection.execute(
                text(
                    "INSERT INTO recovery_codes (user_id, code_hash, created_at)"
                    " SELECT id, 'h', :at FROM users"
                ),
                {"at": datetime(2026, 1, 1)},
            )
        capfd.readouterr()
        with pytest.raises(SystemExit):
            downgrade(revision="0012_grants")
        said = capfd.readouterr().err
        assert (
            "Cannot downgrade: " in said and "1 in recovery_codes" in said and "reset-mfa" in said
        )
        assert db.session.scalar(text("SELECT version_num FROM alembic_version")) == "0013_factors"
        assert db.session.scalar(text("SELECT COUNT(*) FROM recovery_codes")) == 1
        db.session.rollback()

        with db.engine.begin() as connection:
            connection.execute(text("DELETE FROM recovery_codes"))
        downgrade(revision="0010_signing_keys_encrypted")
        assert "recovery_codes" not in inspect(db.engine).get_table_names()
        assert "amr" not in {c["name"] for c in inspect(db.engine).get_columns("user_sessions")}
        db.engine.dispose()


@pytest.fixture
def empty_app(test_database, tmp_path):
    """An app on an empty database of the run's kind (SQLite file, or a PostgreSQL schema)."""
    if test_database.is_postgresql:
        url = postgres_url_for_tests(test_database)
        schema = required_postgres_schema(url)
        options = schema_options(schema)
    else:
        url, schema, options = f"sqlite:///{tmp_path / 'fresh.sqlite3'}", None, {}
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": url,
            "SQLALCHEMY_ENGINE_OPTIONS": options,
            "SECRET_KEY": "x" * 32,
            "BCRYPT_ROUNDS": 4,
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()
    if schema is not None:
        drop_postgres_schema(url, schema)


def _revision(app) -> str:
    with app.app_context():
        return db.session.scalar(text("SELECT version_num FROM alembic_version"))


def _head() -> str:
    [head] = shipped_revisions(PACKAGE_DIR / "migrations").heads
    return head


def test_a_downgrade_that_would_enable_a_disabled_account_refuses(empty_app, capfd):
    """Issue 19, item 3: `db downgrade` then `upgrade` re-enabled a disabled user (0007's
    downgrade drops ``disabled_at``). Now it stops first, saying what and what to do."""
    with empty_app.app_context():
        upgrade()
        user = users.create_user("mallory@example.com", "a long enough password")
        operator.disable_user(user)
        db.session.commit()
        head = _revision(empty_app)
        capfd.readouterr()
        with pytest.raises(SystemExit):  # Flask-Migrate: the reason on stderr, exit status 1
            downgrade(revision="0006_pages")
    said = capfd.readouterr().err
    assert "Cannot downgrade below 0007_operator without losing data: 1 disabled account(s)" in (
        said
    )
    assert "-x drop_data=yes" in said
    # The step that would lose it did not run: PostgreSQL rolls back the whole run (DDL is
    # transactional there); SQLite keeps the later steps' downgrades, which lost nothing.
    assert _revision(empty_app) in (head, "0007_operator")
    with empty_app.app_context():
        assert db.session.scalar(select(User.disabled_at)) is not None
        db.session.rollback()  # no read left open: the downgrade's ALTER would wait on it

        # Told explicitly, it goes ahead; the loss is the operator's informed choice.
        downgrade(revision="0006_pages", x_arg=["drop_data=yes"])
    assert _revision(empty_app) == "0006_pages"


def test_a_downgrade_that_loses_nothing_runs_without_being_told(empty_app):
    with empty_app.app_context():
        upgrade()
        users.create_user("ann@example.com", "a long enough password")
        db.session.commit()
        downgrade(revision="0006_pages")
        upgrade()
    with empty_app.app_context():
        assert db.session.scalar(select(User.email)) == "ann@example.com"


def test_the_backchannel_downgrade_refuses_while_a_client_would_stop_being_told(empty_app, capfd):
    """0016: the older version would drop a client's backchannel_logout_uri silently."""
    with empty_app.app_context():
        upgrade()
        clients.create_client(
            name="Told App",
            redirect_uris=["https://told.example.com/cb"],
            scope="openid",
            backchannel_logout_uri="https://told.example.com/logout",
        )
        db.session.commit()
        # At 0016 itself: on PostgreSQL a refused downgrade rolls back every step it took, so
        # starting from the head would leave the head, not 0016, in place.
        downgrade(revision="0016_backchannel")
        capfd.readouterr()
        with pytest.raises(SystemExit):
            downgrade(revision="0015_clientauth")
    said = capfd.readouterr().err
    assert "Cannot downgrade below 0016_backchannel without losing data: 1 client(s)" in said
    assert _revision(empty_app) == "0016_backchannel"
    with empty_app.app_context():
        uri = db.session.scalar(text("SELECT backchannel_logout_uri FROM clients"))
        assert uri == "https://told.example.com/logout"
        db.session.rollback()
        downgrade(revision="0015_clientauth", x_arg=["drop_data=yes"])
    assert _revision(empty_app) == "0015_clientauth"


def test_the_metadata_document_downgrade_refuses_while_a_url_names_a_client(empty_app, capfd):
    """0017: the older, narrower client_id columns cannot hold a metadata document's URL."""
    url = "https://agent.example/" + "c" * 100 + "/client.json"
    with empty_app.app_context():
        upgrade()
        clients.create_client(
            name="Short App", redirect_uris=["https://short.example/cb"], scope="openid"
        )
        db.session.execute(
            text(
                "INSERT INTO clients (client_id, name, redirect_uris, post_logout_redirect_uris,"
                " scope, grant_types, is_public, can_introspect_any, verified,"
                " require_pushed_authorization_requests, backchannel_logout_session_required,"
                " metadata_document, created_at, updated_at) VALUES (:url, 'Agent', '[]', '[]',"
                " 'openid', '[]', :yes, :no, :no, :no, :no, :yes, :now, :now)"
            ),
            {"url": url, "yes": True, "no": False, "now": datetime(2026, 1, 1)},
        )
        db.session.execute(
            text(
                "INSERT INTO audit_events (at, event, outcome, client_id, actor, detail, repeats)"
                " VALUES (:now, 'client.created', 'success', :url, 'metadata-document', '{}', 1)"
            ),
            {"url": url, "now": datetime(2026, 1, 1)},
        )
        db.session.commit()
        capfd.readouterr()
        with pytest.raises(SystemExit):
            downgrade(revision="0016_backchannel")
    said = capfd.readouterr().err
    assert "Cannot downgrade below 0017_cimd without losing data: 1 client(s)" in said
    assert "1 audit event(s)" in said
    # SQLite commits each step down (0018's lost nothing); PostgreSQL rolls all back.
    assert _revision(empty_app) in ("0017_cimd", _head())
    with empty_app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM clients")) == 2
        db.session.rollback()
        downgrade(revision="0016_backchannel", x_arg=["drop_data=yes"])
    assert _revision(empty_app) == "0016_backchannel"
    with empty_app.app_context():
        names = db.session.scalars(text("SELECT name FROM clients")).all()
        assert names == ["Short App"]
        assert (
            db.session.scalar(
                text("SELECT client_id FROM audit_events WHERE actor = 'metadata-document'")
            )
            is None
        )
        db.session.rollback()
        upgrade()


def test_the_dpop_downgrade_refuses_while_a_client_requires_dpop(empty_app, capfd):
    """0018: the older version would drop dpop_bound_access_tokens and hand bearer tokens out."""
    with empty_app.app_context():
        upgrade()
        clients.create_client(
            name="Bound App",
            redirect_uris=["https://bound.example.com/cb"],
            scope="openid",
            dpop_bound_access_tokens=True,
        )
        db.session.commit()
        capfd.readouterr()
        with pytest.raises(SystemExit):
            downgrade(revision="0017_cimd")
    said = capfd.readouterr().err
    assert "Cannot downgrade below 0018_dpop without losing data: 1 client(s)" in said
    assert _revision(empty_app) in ("0018_dpop", _head())
    with empty_app.app_context():
        assert db.session.scalar(text("SELECT dpop_bound_access_tokens FROM clients")) in (1, True)
        db.session.rollback()
        downgrade(revision="0017_cimd", x_arg=["drop_data=yes"])
    assert _revision(empty_app) == "0017_cimd"
