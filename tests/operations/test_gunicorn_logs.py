"""Gunicorn's own lines in the services' JSON log stream (issue 19, item 9).

A real gunicorn master with two workers, started with the shipped settings
(``-c python:authserver.gunicorn_settings``): every line it and its workers write, on stdout and
stderr, is one JSON object, and gunicorn's own ("Starting gunicorn", "Listening at", "Booting
worker", the shutdown) name the service they serve.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.processes import free_port, stop_process_group


def _serve_and_stop(tmp_path: Path, environment: dict[str, str], app: str) -> tuple[str, str]:
    port = free_port()
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(  # noqa: S603 - this venv's gunicorn
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
            + ["-c", "python:authserver.gunicorn_settings", "--workers", "2", app],
            stdout=stdout,
            stderr=stderr,
            cwd=tmp_path,
            env=environment,
            start_new_session=True,
        )
        try:
            answered = None
            for _ in range(300):
                try:
                    answered = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            assert answered is not None and answered.status_code == 200, err.read_text()
        finally:
            stop_process_group(server)
    return out.read_text(), err.read_text()


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH")
    values = {k: v for k, v in os.environ.items() if k in keep}
    values.update(
        AUTHSERVER_DATABASE_URL=f"sqlite:///{tmp_path / 'server.sqlite3'}",
        AUTHSERVER_INSTANCE_PATH=str(tmp_path / "instance"),
        AUTHSERVER_SMTP_URL="smtp://127.0.0.1:9",
    )
    return values


@pytest.mark.parametrize(
    ("app", "service"),
    [("authserver.wsgi:app", "authserver"), ("resource_api.wsgi:app", "resource_api")],
)
def test_every_line_gunicorn_writes_is_json_naming_the_service(
    tmp_path: Path, environment: dict[str, str], app: str, service: str
) -> None:
    stdout, stderr = _serve_and_stop(tmp_path, environment, app)
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(
                f"not a JSON line: {line!r}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            )
    ours = [entry for entry in parsed if entry["logger"] == "gunicorn.error"]
    messages = [entry["message"] for entry in ours]
    assert any(m.startswith("Starting gunicorn") for m in messages), messages
    assert any(m.startswith("Listening at: http://127.0.0.1:") for m in messages), messages
    assert sum(m.startswith("Booting worker") for m in messages) == 2, messages
    assert any("Shutting down" in m for m in messages), messages
    assert {entry["service"] for entry in ours} == {service}, ours
    assert all(entry["level"] in ("INFO", "WARNING", "ERROR", "DEBUG") for entry in ours)
    assert stderr.strip() == "", stderr  # one stream: nothing left on gunicorn's stderr


def test_text_format_applies_to_gunicorn_lines_too(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    environment["AUTHSERVER_LOG_FORMAT"] = "text"
    stdout, stderr = _serve_and_stop(tmp_path, environment, "authserver.wsgi:app")
    listening = [line for line in stdout.splitlines() if "Listening at:" in line]
    assert listening and " INFO authserver gunicorn.error Listening at:" in listening[0], stdout
    assert stderr.strip() == "", stderr
