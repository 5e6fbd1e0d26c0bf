"""The application as a whole: configuration, JSON errors, /api/me, the OpenAPI document, and its
independence from the authorization server's code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

import resource_api
from resource_api import create_app
from resource_api.config import ConfigError
from resource_api.extensions import db
from resource_api.openapi import SCOPES

from .api_testing import ISSUER, assert_json_error, bearer

PACKAGE = Path(resource_api.__file__).parent


# -- independence ----------------------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_resource_api_never_imports_the_authorization_server():
    """SPEC: “The resource API never imports authserver and never reads its database.”"""
    sources = list(PACKAGE.rglob("*.py"))
    assert len(sources) >= 10  # the scan sees the package, migrations included
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] == "authserver"
        )
        for path in sources
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_building_and_serving_the_api_loads_no_authserver_module(database_config):
    """The same, at run time: dynamic imports would slip past the scan above."""
    code = (
        "import sys, json; from resource_api import create_app\n"
        f"app = create_app(json.loads({json.dumps(json.dumps(database_config))}))\n"
        "app.test_client().get('/openapi.json'); app.test_client().get('/api/me')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'authserver'))"
    )
    # The interpreter running these tests, on code written right here: nothing untrusted.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"  # after the requests' log lines


def test_import_scan_would_notice_an_authserver_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom authserver.models import User\nimport authserver\n")
    assert {"authserver", "authserver.models"} <= imported_modules(sample)


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "issuer",
    ["http://auth.example.com", "http://10.0.0.5:5000", "ftp://127.0.0.1", "https://a.example?x=1"],
)
def test_unsafe_issuer_refuses_to_start(database_config, issuer):
    with pytest.raises(ConfigError, match="RESOURCE_API_ISSUER"):
        create_app({**database_config, "ISSUER": issuer})


@pytest.mark.parametrize(
    "issuer",
    [
        "https://auth.example.com",
        "http://127.0.0.1:5000",
        "http://127.8.9.10",
        "http://localhost:5000",
        "http://[::1]:5000",
    ],
)
def test_https_or_loopback_issuer_is_accepted(database_config, issuer):
    assert create_app({**database_config, "ISSUER": issuer}).config["ISSUER"] == issuer


def test_settings_come_from_resource_api_environment_variables(monkeypatch, database_config):
    monkeypatch.setenv("RESOURCE_API_ISSUER", "https://auth.example.com/")
    monkeypatch.setenv("RESOURCE_API_AUDIENCE", "https://api.example.com")
    monkeypatch.setenv("RESOURCE_API_INTROSPECTION", "1")
    monkeypatch.setenv("RESOURCE_API_INTROSPECT_WRITES", "1")
    monkeypatch.setenv("RESOURCE_API_INTROSPECTION_CLIENT_ID", "12345")
    monkeypatch.setenv("RESOURCE_API_INTROSPECTION_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("RESOURCE_API_INTROSPECTION_CACHE_TTL", "2")
    monkeypatch.setenv("RESOURCE_API_ALLOW_QUERY_TOKEN", "true")
    config = create_app(database_config).config
    assert config["ISSUER"] == "https://auth.example.com"  # trailing slash dropped
    assert config["AUDIENCE"] == config["REALM"] == "https://api.example.com"
    assert config["INTROSPECTION"] is True
    assert config["INTROSPECT_WRITES"] is True
    assert config["INTROSPECTION_CLIENT_ID"] == "12345"  # a string, though it looks like JSON
    assert config["INTROSPECTION_CACHE_TTL"] == 2
    assert config["ALLOW_QUERY_TOKEN"] is True


def test_test_config_wins_over_the_environment(monkeypatch, database_config):
    monkeypatch.setenv("RESOURCE_API_AUDIENCE", "https://from-env.example")
    app = create_app({**database_config, "AUDIENCE": "https://from-test.example"})
    assert app.config["AUDIENCE"] == "https://from-test.example"


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_unclear_flag_refuses_to_start(monkeypatch, database_config, value):
    monkeypatch.setenv("RESOURCE_API_ALLOW_QUERY_TOKEN", value)
    with pytest.raises(ConfigError, match="ALLOW_QUERY_TOKEN"):
        create_app(database_config)


def test_defaults_match_the_spec(monkeypatch, tmp_path):
    # An instance folder of the test's own: the default creates it, and must not touch the repo's.
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path / "instance"))
    app = create_app()
    assert app.config["ISSUER"] == "http://127.0.0.1:5000"
    assert app.config["AUDIENCE"] == "http://127.0.0.1:5001"
    assert app.config["ALLOW_QUERY_TOKEN"] is False
    assert app.config["INTROSPECTION"] is False
    assert app.config["INTROSPECT_WRITES"] is False
    assert app.config["INTROSPECTION_CACHE_TTL"] == 5
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    expected = tmp_path / "instance" / "resource_api.sqlite3"
    assert expected.parent.is_dir()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


# -- JSON errors for everything --------------------------------------------------------------


def test_unknown_route_is_404_json(client):
    assert_json_error(client.get("/nowhere"), 404, "not_found")
    assert_json_error(client.get("/api/events/abc"), 404, "not_found")


def test_wrong_method_is_405_json_with_allow(client, token):
    response = client.put("/api/events", headers=bearer(token), json={})
    assert_json_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


# -- /api/me ---------------------------------------------------------------------------------


def test_me_shows_sub_name_and_email_with_the_email_scope(client, make_token):
    token = make_token(name="Alice Liddell", email="alice@example.com", email_verified=True)
    assert client.get("/api/me", headers=bearer(token)).get_json() == {
        "sub": "alice",
        "name": "Alice Liddell",
        "email": "alice@example.com",
        "email_verified": True,
    }


def test_me_hides_the_email_without_the_email_scope(client, make_token):
    token = make_token(scope="profile", name="Alice Liddell", email="alice@example.com")
    assert client.get("/api/me", headers=bearer(token)).get_json() == {
        "sub": "alice",
        "name": "Alice Liddell",
    }


def test_me_shows_what_the_token_has(client, make_token):
    """Access tokens carry no profile claims by default (RFC 9068 §2.2): only sub is known."""
    token = make_token(scope="profile email")
    assert client.get("/api/me", headers=bearer(token)).get_json() == {"sub": "alice"}


# -- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_is_public_and_3_1(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"]


def test_openapi_oauth2_scheme_points_at_the_issuer(client):
    scheme = client.get("/openapi.json").get_json()["components"]["securitySchemes"]["oauth2"]
    flow = scheme["flows"]["authorizationCode"]
    assert scheme["type"] == "oauth2"
    assert flow["authorizationUrl"] == f"{ISSUER}/oauth/authorize"
    assert flow["tokenUrl"] == f"{ISSUER}/oauth/token"
    assert set(flow["scopes"]) == {"profile", "email", "events:read", "events:write"}


def test_openapi_lists_every_operation_with_the_scope_the_code_enforces(app, client):
    """SPEC: the scope table of the Resource API section."""
    paths = client.get("/openapi.json").get_json()["paths"]
    documented = {
        (method.upper(), path): operation["security"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    assert documented == {
        ("GET", "/api/me"): [{"oauth2": ["profile"]}],
        ("GET", "/api/events"): [{"oauth2": ["events:read"]}],
        ("GET", "/api/events/{event_id}"): [{"oauth2": ["events:read"]}],
        ("POST", "/api/events"): [{"oauth2": ["events:write"]}],
        ("PATCH", "/api/events/{event_id}"): [{"oauth2": ["events:write"]}],
        ("DELETE", "/api/events/{event_id}"): [{"oauth2": ["events:write"]}],
    }
    for path, operations in paths.items():
        for operation in operations.values():
            for scope in operation["security"][0]["oauth2"]:
                assert scope in SCOPES
            assert {"401", "403"} <= set(operation["responses"])
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path


def test_every_api_route_is_guarded_and_documented(app, client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        assert getattr(app.view_functions[rule.endpoint], "required_scopes", None), rule.rule
        openapi_path = rule.rule.replace("<int:event_id>", "{event_id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[openapi_path], (method, rule.rule)


def test_openapi_references_all_resolve(client):
    document = client.get("/openapi.json").get_json()

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(document))
    assert found
    for ref in found:
        target = document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict), ref


def test_unexpected_failure_is_500_json_without_internals(make_app):
    app = make_app(TESTING=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    body = assert_json_error(response, 500, "server_error")
    assert "secret" not in response.get_data(as_text=True)
    assert body["error_description"]


def test_oversized_form_body_is_413_json(client, token):
    response = client.post(
        "/api/events",
        data={"access_token": token, "padding": "x" * (64 * 1024)},
        content_type="application/x-www-form-urlencoded",
    )
    assert_json_error(response, 413, "request_too_large")


def test_head_is_guarded_like_get(client, token):
    assert client.head("/api/events").status_code == 401
    assert client.head("/api/events", headers=bearer(token)).status_code == 200


def test_a_failed_statement_shows_its_sql_but_not_its_values(app):
    """No SQL parameter reaches an error message, and so no log line (hide_parameters)."""
    with app.app_context():
        with pytest.raises(sa.exc.DBAPIError) as failed:
            db.session.execute(
                sa.text("INSERT INTO events (no_such_column) VALUES (:title)"),
                {"title": "a private meeting with the doctor"},
            )
        db.session.rollback()

    message = str(failed.value)
    assert "INSERT INTO events" in message
    assert "a private meeting with the doctor" not in message
    assert "SQL parameters hidden" in message
