"""The demo client is a third party: it imports neither the server nor the API (SPEC)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from examples.demo_client.config import ConfigError

PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "demo_client"
FORBIDDEN = ("authserver", "resource_api", "tests")


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_the_demo_client_imports_neither_the_server_nor_the_api():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) >= 5
    for path in sources:
        for name in _imported_modules(path):
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_it_will_not_start_without_the_client_secret(tmp_path, monkeypatch):
    from examples.demo_client import create_app

    monkeypatch.delenv("DEMO_CLIENT_CLIENT_SECRET", raising=False)
    with pytest.raises(ConfigError, match="DEMO_CLIENT_CLIENT_SECRET"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_the_client_secret_can_come_from_a_file(tmp_path):
    from examples.demo_client import create_app

    secret_file = tmp_path / "client_secret"
    secret_file.write_text("from-a-file\n")
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "instance"), "CLIENT_SECRET_FILE": str(secret_file)}
    )
    assert app.config["CLIENT_SECRET"] == "from-a-file"
    assert app.config["SESSION_COOKIE_NAME"] == "demo_client_session"
    assert app.config["DATABASE_URL"].endswith("demo_client.sqlite3")


def test_settings_come_from_demo_client_environment_variables(tmp_path, monkeypatch):
    from examples.demo_client import create_app

    monkeypatch.setenv("DEMO_CLIENT_CLIENT_SECRET", "12345")  # JSON-parsed: must stay a string
    monkeypatch.setenv("DEMO_CLIENT_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DEMO_CLIENT_ISSUER", "http://127.0.0.1:5100/")
    app = create_app()
    assert app.config["CLIENT_SECRET"] == "12345"
    assert app.config["ISSUER"] == "http://127.0.0.1:5100"
    assert app.config["API_URL"] == "http://127.0.0.1:5001"
    assert app.config["CLIENT_ID"] == "demo-client"
    assert app.instance_path == str(tmp_path)
    assert (tmp_path / "secret_key").exists() and (tmp_path / "demo_client.sqlite3").exists()
