"""Every setting is checked when a service starts (issue 19, item 1): type, range and meaning,
with one line naming the variable and what it allows, from the app factory, the ``authserver``
command and gunicorn alike; nothing destructive follows from a typo."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import configrules
import resource_api
from authserver import create_app
from authserver.config import DefaultConfig as AuthserverConfig
from configrules import SettingError
from resource_api.config import DefaultConfig as ApiConfig

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _authserver(tmp_path: Path, monkeypatch, variable: str, value: str):
    monkeypatch.setenv(variable, value)
    return create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path)})


# One case per kind of rule: (variable, value as typed in a shell, words the refusal must say).
REFUSED = [
    ("AUTHSERVER_AUDIT_RETENTION_DAYS", "0", "from 1 to 36500 days"),  # 0 deleted the record
    ("AUTHSERVER_AUDIT_RETENTION_DAYS", "abc", "whole number"),
    ("AUTHSERVER_ACCESS_TOKEN_TTL", "1.5", "whole number"),
    ("AUTHSERVER_ACCESS_TOKEN_TTL", "-600", "from 1 to 86400 seconds"),
    ("AUTHSERVER_RATELIMIT_SYNC_INTERVAL", "nan", "from 0 to 60 seconds"),
    ("AUTHSERVER_REGISTRATION_ENABLED", "maybe", "true or false"),
    ("AUTHSERVER_LOG_FORMAT", "xml", "one of json, text"),
    ("AUTHSERVER_LOGIN_FAILURES_PER_ACCOUNT", "ten a minute", "10 per 15 minutes"),
    ("AUTHSERVER_RATELIMIT_STORAGE_URI", "mysql://db", "redis://"),
    ("AUTHSERVER_METRICS_ADDRESS", "9100", "host:port"),
    ("AUTHSERVER_DATABASE_URL", "not a url", "SQLAlchemy database URL"),
    ("AUTHSERVER_ISSUER", "auth.example.com", "URL"),
    ("AUTHSERVER_SESSION_COOKIE_SAMESITE", "lax-ish", "one of Lax, Strict"),
]


@pytest.mark.parametrize(("variable", "value", "allowed"), REFUSED)
def test_a_setting_out_of_range_stops_the_start_naming_it_and_what_it_allows(
    tmp_path, monkeypatch, variable, value, allowed
):
    with pytest.raises(SettingError) as raised:
        _authserver(tmp_path, monkeypatch, variable, value)
    message = str(raised.value)
    assert message.startswith(f"{variable} must be ")
    assert allowed in message
    assert "\n" not in message


def test_a_secret_out_of_range_is_never_repeated(tmp_path, monkeypatch):
    with pytest.raises(SettingError, match="AUTHSERVER_SECRET_KEY must be") as raised:
        _authserver(tmp_path, monkeypatch, "AUTHSERVER_SECRET_KEY", "hunter2")
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value", "setting", "parsed"),
    [
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "300", "ACCESS_TOKEN_TTL", 300),
        ("AUTHSERVER_AUDIT_RETENTION_DAYS", '"30"', "AUDIT_RETENTION_DAYS", 30),  # a JSON string
        ("AUTHSERVER_REGISTRATION_ENABLED", "on", "REGISTRATION_ENABLED", True),
        ("AUTHSERVER_RATELIMIT_SYNC_INTERVAL", "0.5", "RATELIMIT_SYNC_INTERVAL", 0.5),
        ("AUTHSERVER_CLEANUP_INTERVAL", "", "CLEANUP_INTERVAL", None),
    ],
)
def test_allowed_values_arrive_as_the_type_the_code_reads(
    tmp_path, monkeypatch, variable, value, setting, parsed
):
    app = _authserver(tmp_path, monkeypatch, variable, value)
    assert app.config[setting] == parsed
    assert type(app.config[setting]) is type(parsed)


@pytest.mark.parametrize("config_class", [AuthserverConfig, ApiConfig], ids=["server", "api"])
def test_every_setting_declares_what_it_allows(config_class):
    """A setting added without a rule would skip the check at start (and `make docs` refuses)."""
    assert configrules.undeclared(config_class) == []


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("RESOURCE_API_LEEWAY", "-1", "from 0 to 300 seconds"),
        ("RESOURCE_API_INTROSPECTION", "perhaps", "true or false"),
        ("RESOURCE_API_MAX_CONTENT_LENGTH", "big", "whole number"),
        ("RESOURCE_API_METRICS_ADDRESS", "9100", "host:port"),
    ],
)
def test_the_resource_api_checks_its_settings_the_same_way(
    tmp_path, monkeypatch, variable, value, allowed
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError) as raised:
        resource_api.create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    assert str(raised.value).startswith(f"{variable} must be ")
    assert allowed in str(raised.value)


# --- the entry points: one line and an exit status, never a traceback ---------------------------


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTHSERVER_", "RESOURCE_API_", "FLASK_"))
    }
    return env | {"AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", **settings}


def test_cleanup_with_retention_zero_deletes_nothing_and_says_why(tmp_path):
    """Issue 19, item 1: `AUDIT_RETENTION_DAYS=0 authserver cleanup` deleted the whole record."""
    env = _environment(tmp_path)
    for command in (
        ["db", "upgrade"],
        ["users", "create", "--email", "ann@example.com", "--password", "p" * 12],
        ["users", "disable", "ann@example.com"],  # the operator's action is audited
    ):
        assert _authserver_command(command, env).returncode == 0
    before = _audit_rows(tmp_path / "a.db")
    assert before > 0

    result = _authserver_command(["cleanup"], env | {"AUTHSERVER_AUDIT_RETENTION_DAYS": "0"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: AUTHSERVER_AUDIT_RETENTION_DAYS must be a whole number from 1 to 36500 days, not 0."
    )
    assert _audit_rows(tmp_path / "a.db") == before


def _authserver_command(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - this checkout's console script
        [BIN / "authserver", *arguments], env=env, capture_output=True, text=True, timeout=60
    )


def _audit_rows(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT count(*) FROM audit_events").fetchone()[0]


@pytest.mark.parametrize(
    ("app", "variable"),
    [
        ("authserver:create_app()", "AUTHSERVER_ACCESS_TOKEN_TTL"),
        ("authserver.wsgi:app", "AUTHSERVER_ACCESS_TOKEN_TTL"),
        ("resource_api.wsgi:app", "RESOURCE_API_LEEWAY"),
    ],
)
def test_gunicorn_stops_before_any_worker_with_one_line(tmp_path, app, variable):
    result = subprocess.run(  # noqa: S603 - gunicorn of this interpreter
        [sys.executable, "-m", "gunicorn", "-c", "python:authserver.gunicorn_settings"]
        + ["--bind", "127.0.0.1:0", app],
        env=_environment(tmp_path, **{variable: "abc", "GUNICORN_WORKERS": "1"}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    assert f"Error: {variable} must be " in result.stderr
    assert "Traceback" not in result.stderr
    assert "Booting worker" not in result.stderr


def test_a_module_app_without_our_config_stops_gunicorn_with_one_line(tmp_path):
    """Plain `gunicorn authserver.wsgi:app`: the worker's one line, and the master halts."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "authserver.wsgi:app"],
        env=_environment(tmp_path, AUTHSERVER_LOG_FORMAT="xml"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    assert "Error: AUTHSERVER_LOG_FORMAT must be one of json, text, not 'xml'." in result.stderr
    assert "Traceback" not in result.stderr
