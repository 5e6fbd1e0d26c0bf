"""Signing keys at rest: the database holds private keys only encrypted under a key-encryption
key (KEK) kept outside it, so a database copy cannot forge a token (issue 14; issue 19 item 3).

Every test runs on the run's database (SQLite, or PostgreSQL with AUTHSERVER_DATABASE_URL).
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from joserfc.jwk import RSAKey
from sqlalchemy import func, null, select, text, update
from sqlalchemy.engine import make_url

from authserver import PACKAGE_DIR, create_app
from authserver.extensions import db
from authserver.models import AccessToken, SigningKey
from authserver.security import key_wrapping
from authserver.security.key_wrapping import KeyUnavailable, derive_kek
from authserver.security.signing import generate_private_key
from authserver.services import caches, checks, keys
from authserver.services.schema import shipped_revisions
from tests.databases import (
    drop_postgres_schema,
    postgres_url_for_tests,
    required_postgres_schema,
    schema_options,
)
from tests.helpers import basic_auth, client_credentials_token, decode_jwt, introspect

NEW_KEK = "the-new-key-encryption-key-" + "n" * 32
OTHER_KEK = "somebody-elses-key-encryption-" + "o" * 32


def _run(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def _private_key_texts(pem: str) -> list[str]:
    """What would betray a private key in a dump: the PEM's body lines and every private number
    (base64url as in a JWK, decimal, hex)."""
    numbers = RSAKey.import_key(pem).as_dict(private=True)
    texts = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    for name in ("d", "p", "q", "dp", "dq", "qi"):
        value = numbers[name]
        integer = int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        texts += [value, str(integer), format(integer, "x")]
    return texts


def _assert_no_private_key_in(dump: str, pems: list[str]) -> None:
    assert "PRIVATE KEY" not in dump
    for pem in pems:
        for piece in _private_key_texts(pem):
            assert piece not in dump


def _stored_rows(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        return list(db.session.execute(select(SigningKey.kid, SigningKey.encrypted_private_key)))


def _table_as_text(app: Flask) -> str:
    """Every column of every row of signing_keys as text, as a SELECT in a dump would show it."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            rows = db.session.scalars(text("SELECT s::text FROM signing_keys s"))
            return "\n".join(rows)
        return "\n".join(map(repr, db.session.execute(text("SELECT * FROM signing_keys"))))


def _pems(app: Flask) -> list[str]:
    """The keys' private PEMs, decrypted the one way the server does."""
    with app.app_context():
        pairs = [keys._pair(row) for row in db.session.scalars(select(SigningKey))]
        return [keys.private_key(pair).as_pem(private=True).decode() for pair in pairs]


@pytest.fixture
def node(app: Flask) -> Iterator[Callable[..., Flask]]:
    """Another app on the same database with other settings: another node, or this one
    restarted with a new environment."""
    made: list[Flask] = []

    def make(**overrides: object) -> Flask:
        config = {
            "TESTING": True,
            "INSTANCE_PATH": app.instance_path,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "BCRYPT_ROUNDS": 4,
            "RATELIMIT_ENABLED": False,
            **overrides,
        }
        made.append(create_app(config))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


# --- what is stored ----------------------------------------------------------------------------


def test_rows_hold_no_private_key_after_keys_are_made_and_rotated(app, resource_server):
    assert _run(app, "keys", "rotate").exit_code == 0
    assert _run(app, "keys", "rotate", "--publish-only").exit_code == 0

    stored = _stored_rows(app)
    assert len(stored) == 3
    kek_id = derive_kek(app.config["SECRET_KEY"]).id  # no KEK set: derived from the session key
    assert all(value.startswith(f"v1:{kek_id}:") for _, value in stored)
    _assert_no_private_key_in(_table_as_text(app), _pems(app))

    # Signing and verifying are as before: a token verifies against the published keys.
    http = app.test_client()
    token = client_credentials_token(http, resource_server)
    header, _ = decode_jwt(http, token)
    with app.app_context():
        assert header["kid"] == keys.active_key().kid
    assert introspect(http, resource_server, token).get_json()["active"] is True


def test_the_jwks_is_the_same_public_key_as_before(app, client, signing_pem):
    kid, pem = signing_pem
    public = RSAKey.import_key(pem).as_dict(private=False, kid=kid, use="sig", alg="RS256")
    assert client.get("/oauth/jwks").get_json() == {"keys": [public]}


@pytest.fixture
def fresh_database(test_database, tmp_path: Path) -> Iterator[tuple[Flask, Callable[[], str]]]:
    """An empty database of the run's kind and an app on it, with how to back it up: the
    SQLite file as copied, or pg_dump (a SELECT of every row if pg_dump is not installed)."""
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
            "SECRET_KEY": "fresh-secret-key-" + "f" * 32,
        }
    )

    def backup() -> str:
        with app.app_context():
            db.engine.dispose()
        if schema is None:
            files = [tmp_path / "fresh.sqlite3", tmp_path / "fresh.sqlite3-wal"]
            return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
        if shutil.which("pg_dump") is None:
            return _table_as_text(app)
        libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return subprocess.run(  # noqa: S603 - a fixed program and our own test database's URL
            ["pg_dump", "--data-only", f"--schema={schema}", libpq],  # noqa: S607 - from PATH
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    yield app, backup
    with app.app_context():
        db.engine.dispose()
    if schema is not None:
        drop_postgres_schema(url, schema)


def test_a_backup_of_the_database_holds_no_private_key(fresh_database):
    app, backup = fresh_database
    with app.app_context():
        upgrade()
    for command in (["keys", "rotate"], ["keys", "rotate"], ["keys", "rotate", "--publish-only"]):
        assert _run(app, *command).exit_code == 0
    pems = _pems(app)
    assert len(pems) == 3
    dump = backup()
    with app.app_context():
        kids = [kid for kid, _ in _stored_rows(app)]
    assert all(kid in dump for kid in kids)  # the rows are there...
    _assert_no_private_key_in(dump, pems)  # ...their private keys are not


# --- another key-encryption key ----------------------------------------------------------------


def test_a_node_with_another_kek_cannot_sign_and_says_which_kek_is_missing(
    app, node, resource_server, caplog
):
    token = client_credentials_token(app.test_client(), resource_server)
    stranger = node(KEY_ENCRYPTION_KEY=OTHER_KEK)
    http = stranger.test_client()
    old_id = derive_kek(app.config["SECRET_KEY"]).id
    with caplog.at_level(logging.ERROR, logger="authserver"):
        response = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(resource_server.client_id, resource_server.secret),
        )
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert response.headers["Cache-Control"] == "no-store"
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f"encrypted under key-encryption key {old_id}, which is not configured" in logged
    assert derive_kek(OTHER_KEK).id in logged
    with stranger.app_context():
        # Nothing was issued (only the first node's token is on record).
        assert db.session.scalar(select(func.count()).select_from(AccessToken)) == 1

    # Nor can it verify: a valid token is not called inactive, the answer is 503.
    assert introspect(http, resource_server, token).status_code == 503
    # Its only key unreadable, the JWKS is a 503, not an empty set.
    jwks = http.get("/oauth/jwks")
    assert jwks.status_code == 503 and jwks.get_json()["error"] == "temporarily_unavailable"

    # The first node is unaffected.
    assert introspect(app.test_client(), resource_server, token).get_json()["active"] is True


def test_the_jwks_keeps_serving_the_keys_it_can_read(app, client, caplog):
    kid, pem = generate_private_key()
    foreign = key_wrapping.key_ring({"SECRET_KEY": OTHER_KEK})
    with app.app_context():
        active = keys.active_key().kid
        # Pre-published under a KEK this node does not have (a node with other settings).
        stored = key_wrapping.wrap(pem, kid, foreign)
        db.session.add(SigningKey(kid=kid, encrypted_private_key=stored, activated_at=null()))
        caches.bump(caches.SIGNING_KEYS)
        db.session.commit()
    with caplog.at_level(logging.ERROR, logger="authserver"):
        response = client.get("/oauth/jwks")
    assert response.status_code == 200
    assert [k["kid"] for k in response.get_json()["keys"]] == [active]
    assert any(f"signing key {kid} is encrypted under" in r.getMessage() for r in caplog.records)


def test_kek_rotation_previous_then_rewrap(app, node, resource_server):
    old_secret = app.config["SECRET_KEY"]  # the KEK so far, derived from it
    token = client_credentials_token(app.test_client(), resource_server)

    # 1. The new KEK, the old one as previous: keys still read, new keys under the new one.
    both = node(KEY_ENCRYPTION_KEY=NEW_KEK, KEY_ENCRYPTION_KEY_PREVIOUS=f"{OTHER_KEK} {old_secret}")
    http = both.test_client()
    assert introspect(http, resource_server, token).get_json()["active"] is True
    client_credentials_token(http, resource_server)
    check = json.loads(_run(both, "check", "--json").output)["checks"]
    at_rest = next(c for c in check if c["item"] == "signing keys at rest")
    assert at_rest["status"] == "warn" and "authserver keys rewrap" in at_rest["detail"]
    assert _run(both, "keys", "rotate", "--publish-only").exit_code == 0
    new_id, old_id = derive_kek(NEW_KEK).id, derive_kek(old_secret).id
    ids = sorted(key_wrapping.kek_id_of(value) for _, value in _stored_rows(app))
    assert ids == sorted([new_id, old_id])  # the previous KEK was never used to write

    # 2. Rewrap: everything moves to the new KEK; a second run has nothing to do.
    result = _run(both, "keys", "rewrap", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"rewrapped": 1, "keys": 2, "key_encryption_key": new_id}
    assert json.loads(_run(both, "keys", "rewrap", "--json").output)["rewrapped"] == 0
    assert all(value.startswith(f"v1:{new_id}:") for _, value in _stored_rows(app))

    # 3. The previous KEK dropped: everything still works; the old KEK alone reads nothing.
    new_only = node(KEY_ENCRYPTION_KEY=NEW_KEK)
    http = new_only.test_client()
    assert introspect(http, resource_server, token).get_json()["active"] is True
    client_credentials_token(http, resource_server)
    assert http.get("/oauth/jwks").status_code == 200
    result = _run(new_only, "check")
    assert result.exit_code == 0
    assert f"PASS  signing keys at rest: 2 encrypted under key-encryption key {new_id}" in (
        result.output
    )
    old_only = node()
    assert old_only.test_client().get("/oauth/jwks").status_code == 503


def test_rewrap_changes_nothing_while_a_key_cannot_be_read(app, node):
    before = _stored_rows(app)
    stranger = node(KEY_ENCRYPTION_KEY=NEW_KEK)
    result = _run(stranger, "keys", "rewrap")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "Nothing was rewrapped" in lines[0]
    assert derive_kek(app.config["SECRET_KEY"]).id in lines[0]
    assert _stored_rows(app) == before


def test_check_names_the_wrong_kek(app, node):
    kek_id = derive_kek(app.config["SECRET_KEY"]).id
    result = _run(app, "check")
    assert f"PASS  signing keys at rest: 1 encrypted under key-encryption key {kek_id} " in (
        result.output
    )
    assert "(from AUTHSERVER_SECRET_KEY)" in result.output

    result = _run(node(KEY_ENCRYPTION_KEY=NEW_KEK), "check")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "signing keys at rest" in x)
    assert line.startswith("FAIL  signing keys at rest: signing key ")
    assert f"encrypted under key-encryption key {kek_id}, which is not configured" in line
    assert f"configured: {derive_kek(NEW_KEK).id} (from AUTHSERVER_KEY_ENCRYPTION_KEY)" in line


# --- tampering ---------------------------------------------------------------------------------


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(app, client):
    assert _run(app, "keys", "rotate", "--publish-only").exit_code == 0
    with app.app_context():
        (kid_a, value_a), (kid_b, value_b) = db.session.execute(
            select(SigningKey.kid, SigningKey.encrypted_private_key)
        )
        for kid, value in ((kid_a, value_b), (kid_b, value_a)):
            db.session.execute(
                update(SigningKey).where(SigningKey.kid == kid).values(encrypted_private_key=value)
            )
        db.session.commit()
        with pytest.raises(KeyUnavailable, match=f"signing key {kid_a} does not decrypt"):
            keys.private_key(keys._pair(db.session.scalar(select(SigningKey).filter_by(kid=kid_a))))
    assert client.get("/oauth/jwks").status_code == 503


def test_a_plaintext_key_in_the_database_is_refused(app, client, resource_server, caplog):
    """Whoever can write to the database cannot plant a key of their own; a database restored
    from before the upgrade is told to run it."""
    kid, pem = generate_private_key()
    with app.app_context():
        db.session.execute(update(SigningKey).values(retired_at=func.now()))
        db.session.add(SigningKey(kid=kid, encrypted_private_key=pem))
        db.session.commit()
    with caplog.at_level(logging.ERROR, logger="authserver"):
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(resource_server.client_id, resource_server.secret),
        )
    assert response.status_code == 503
    assert any(
        f"signing key {kid} is stored unencrypted: run `authserver db upgrade`" in r.getMessage()
        for r in caplog.records
    )


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUTHSERVER_KEY_ENCRYPTION_KEY", "too-short-a-key"),
        ("AUTHSERVER_KEY_ENCRYPTION_KEY", "12345678901234567890123456789012345"),  # JSON: a number
        ("AUTHSERVER_KEY_ENCRYPTION_KEY_PREVIOUS", '{"not": "a list"}'),
        ("AUTHSERVER_KEY_ENCRYPTION_KEY_PREVIOUS", "[1, 2]"),
    ],
)
def test_a_malformed_kek_setting_stops_the_start_and_names_itself(
    tmp_path, monkeypatch, variable, value
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(RuntimeError, match=variable + " must be") as raised:
        create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "s" * 32})
    assert value not in str(raised.value)  # a secret is never repeated


def test_the_kek_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_KEY_ENCRYPTION_KEY", NEW_KEK)
    monkeypatch.setenv("AUTHSERVER_KEY_ENCRYPTION_KEY_PREVIOUS", f"{OTHER_KEK}  {'s' * 32}")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "s" * 32})
    ring = key_wrapping.key_ring(app.config)
    assert ring.current == derive_kek(NEW_KEK)
    assert ring.previous == (derive_kek(OTHER_KEK), derive_kek("s" * 32))
    assert ring.source == "AUTHSERVER_KEY_ENCRYPTION_KEY"
    assert ring.current.key.hex() not in repr(ring) and repr(ring.current.key) not in repr(ring)


# --- the migration -----------------------------------------------------------------------------


def _plaintext_rows(app: Flask) -> dict[str, str]:
    """Two keys stored as the schema before 0010 stored them: PEM text."""
    made = dict(generate_private_key() for _ in range(2))
    with app.app_context():
        for number, (kid, pem) in enumerate(made.items()):
            db.session.execute(
                text(
                    "INSERT INTO signing_keys (kid, algorithm, private_pem, created_at, "
                    "activated_at, retired_at) VALUES (:kid, 'RS256', :pem, :at, :at, :retired)"
                ),
                {
                    "kid": kid,
                    "pem": pem,
                    "at": f"2026-01-0{number + 1} 00:00:00",
                    "retired": "2026-01-02 00:00:00" if number == 0 else None,
                },
            )
        db.session.commit()
    return made


def test_the_migration_encrypts_plaintext_keys_and_its_downgrade_restores_them(
    fresh_database, monkeypatch, capfd
):
    app, backup = fresh_database
    with app.app_context():
        upgrade(revision="0009_email_key")
    made = _plaintext_rows(app)
    assert "PRIVATE KEY" in _table_as_text(app)

    with app.app_context():
        upgrade()
    kek_id = derive_kek(app.config["SECRET_KEY"]).id
    stored = dict(_stored_rows(app))
    assert all(value.startswith(f"v1:{kek_id}:") for value in stored.values())
    _assert_no_private_key_in(backup(), list(made.values()))
    # The server reads what the migration wrote: the same keys, and it signs.
    with app.app_context():
        for kid, pem in made.items():
            pair = keys._pair(db.session.scalar(select(SigningKey).filter_by(kid=kid)))
            assert keys.private_key(pair).as_pem(private=True).decode() == pem
    assert app.test_client().get("/oauth/jwks").status_code == 200

    # A downgrade that could not decrypt them refuses, and changes nothing.
    monkeypatch.setitem(app.config, "KEY_ENCRYPTION_KEY", NEW_KEK)
    capfd.readouterr()
    with app.app_context(), pytest.raises(SystemExit):
        downgrade(revision="0009_email_key")  # Flask-Migrate: the reason on stderr, exit status 1
    said = capfd.readouterr().err
    assert "Cannot downgrade: " in said and f"key-encryption key {kek_id}, which is not" in said
    assert dict(_stored_rows(app)) == stored
    with app.app_context():
        version = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    [head] = shipped_revisions(PACKAGE_DIR / "migrations").heads
    assert version in ("0010_signing_keys_encrypted", head)  # PostgreSQL: all rolled back
    monkeypatch.setitem(app.config, "KEY_ENCRYPTION_KEY", None)

    # With the KEK, the downgrade gives back the PEMs, exactly.
    with app.app_context():
        downgrade(revision="0009_email_key")
    assert dict(_stored_rows(app)) == made


def test_keys_the_server_made_survive_a_downgrade_and_an_upgrade(fresh_database):
    app, _ = fresh_database
    with app.app_context():
        upgrade()
    assert _run(app, "keys", "rotate").exit_code == 0
    (pem,) = _pems(app)
    with app.app_context():
        downgrade(revision="0009_email_key")
    assert [value for _, value in _stored_rows(app)] == [pem]
    with app.app_context():
        upgrade()
    assert _pems(app) == [pem]


def test_the_migration_encrypts_under_the_kek_the_nodes_are_given(fresh_database, monkeypatch):
    """`authserver db upgrade` on a node with AUTHSERVER_KEY_ENCRYPTION_KEY set encrypts under
    that key, so the nodes can read what it wrote."""
    app, _ = fresh_database
    with app.app_context():
        upgrade(revision="0009_email_key")
    _plaintext_rows(app)
    monkeypatch.setitem(app.config, "KEY_ENCRYPTION_KEY", NEW_KEK)
    with app.app_context():
        upgrade()
    new_id = derive_kek(NEW_KEK).id
    assert all(value.startswith(f"v1:{new_id}:") for _, value in _stored_rows(app))
    assert len(_pems(app)) == 2  # ...and reads it back


def test_check_on_a_database_without_keys_names_the_kek_new_keys_will_use(fresh_database):
    app, _ = fresh_database
    with app.app_context():
        upgrade()
        finding = checks._keys_at_rest()
    kek_id = derive_kek(app.config["SECRET_KEY"]).id
    assert finding.status == "pass"
    assert finding.detail == (
        f"no key yet; each will be encrypted under key-encryption key {kek_id} "
        "(from AUTHSERVER_SECRET_KEY)"
    )


def test_readyz_is_503_on_a_node_whose_kek_cannot_open_the_active_key(app, node):
    """Issue 19, item 8: such a node said ready, and its token endpoint answered 503."""
    assert app.test_client().get("/readyz").status_code == 200
    stranger = node(KEY_ENCRYPTION_KEY=OTHER_KEK)
    response = stranger.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert "which is not configured" in body["reason"]
    assert OTHER_KEK not in response.get_data(as_text=True)
    # Given the key it needs as a previous one, it is ready again.
    healed = node(
        KEY_ENCRYPTION_KEY=OTHER_KEK, KEY_ENCRYPTION_KEY_PREVIOUS=app.config["SECRET_KEY"]
    )
    assert healed.test_client().get("/readyz").status_code == 200


def test_check_is_read_only_on_a_database_without_keys(fresh_database):
    """Issue 19, item 8: `authserver check` made the first signing key."""
    app, _ = fresh_database
    with app.app_context():
        upgrade()
    result = _run(app, "check", "--json")
    signing = next(c for c in json.loads(result.output)["checks"] if c["item"] == "signing key age")
    assert signing["status"] == "pass"
    assert signing["detail"].startswith("no key yet: the first token request makes one")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SigningKey)) == 0
