"""The wheel works on its own: built, installed into a fresh venv, run from an unrelated directory.

``pip install .`` once left the migrations, templates and static files behind (issue 10), which
an editable install never shows. This builds the wheel from a copy of the tree (the checkout
stays clean), installs it with ``--no-deps`` into a new venv that sees this interpreter's
site-packages for the dependencies, and drives the ``authserver`` console script: migrate,
seed the demo client, serve under gunicorn and issue a client_credentials token.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import requests

from tests.processes import free_port, stop_process_group

ROOT = Path(__file__).resolve().parents[2]

#: What setuptools says when a folder with files to ship is not a listed package.
PACKAGE_WARNING = re.compile(r"absent from the `packages` configuration|Warning:.*\bpackages?\b")
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "__pycache__", "build", "dist", "*.egg-info", ".ci"
)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - fixed commands
        command, capture_output=True, text=True, timeout=120, **kwargs
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE)
    dist = tmp_path / "dist"
    # -v: pip shows the backend's own output, where setuptools prints its warnings.
    build = _run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--disable-pip-version-check"]
        + ["-w", str(dist), str(source)]
    )
    output = build.stdout + build.stderr
    warnings = [line for line in output.splitlines() if PACKAGE_WARNING.search(line)]
    assert warnings == [], "setuptools warned about packages:\n" + "\n".join(warnings)
    (wheel,) = dist.glob("authserver-*.whl")
    return wheel


def _venv_with(wheel: Path, tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    # The dependencies (and pip) from the running interpreter's site-packages: a plain path
    # line, so that directory's own .pth files (an editable checkout) are not processed.
    deps = sysconfig.get_paths()["purelib"]
    (Path(purelib.stdout.strip()) / "_test_dependencies.pth").write_text(deps + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])
    return venv


def test_the_wheel_migrates_seeds_and_serves_from_anywhere(tmp_path):
    wheel = _build_wheel(tmp_path)
    venv = _venv_with(wheel, tmp_path)
    authserver = str(venv / "bin" / "authserver")
    elsewhere = tmp_path / "elsewhere"  # no checkout here: nothing to find by accident
    elsewhere.mkdir()
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith(("AUTHSERVER_", "FLASK_"))
    }
    env |= {
        "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
    }

    _run([authserver, "db", "upgrade"], cwd=elsewhere, env=env)
    demo = json.loads(_run([authserver, "demo", "--json"], cwd=elsewhere, env=env).stdout)
    # The installed package is the one that ran: its instance folder (secret key) is the venv's.
    assert (venv / "var" / "authserver-instance").is_dir()
    assert list(elsewhere.iterdir()) == []

    server = subprocess.Popen(  # noqa: S603 - the console script just installed
        [authserver, "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.2)

        response = requests.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "events:read"},
            auth=(demo["client_id"], demo["client_secret"]),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["access_token"]
        # The page's stylesheet comes from the package's static folder.
        assert requests.get(f"{base}/static/app.css", timeout=10).status_code == 200
    finally:
        stop_process_group(server)
        server.stderr.close()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built once for this module's tests and installed into a fresh venv."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    return _venv_with(_build_wheel(tmp_path), tmp_path)


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 30) -> requests.Response:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            response = requests.get(url, timeout=10)  # a worker still booting holds it
            if response.status_code < 500:
                return response
        except (requests.ConnectionError, requests.Timeout):
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {seconds} s"
        time.sleep(0.2)


#: Every start command the SPEC and docs name (issue 19, item 6): (gunicorn arguments, path
#: that answers 200 once it serves).
DOCUMENTED_STARTS = [
    (["wsgi:auth_app"], "/healthz"),  # SPEC
    (["wsgi:api_app"], "/healthz"),  # SPEC, docs/integrating.md
    (["authserver:create_app()"], "/healthz"),  # docs/operating.md
    (["resource_api:create_app()"], "/healthz"),
    (["-c", "python:authserver.gunicorn_settings", "authserver.wsgi:app"], "/healthz"),
    (["-c", "python:authserver.gunicorn_settings", "resource_api.wsgi:app"], "/healthz"),
]


@pytest.mark.parametrize(
    ("arguments", "path"), DOCUMENTED_STARTS, ids=[" ".join(a) for a, _ in DOCUMENTED_STARTS]
)
def test_each_documented_start_command_serves_from_the_wheel(installed, tmp_path, arguments, path):
    elsewhere = tmp_path / "empty"  # nothing of the checkout to import by accident
    elsewhere.mkdir()
    port = free_port()
    env = _clean_environment(tmp_path, port)
    server = subprocess.Popen(  # noqa: S603 - gunicorn of the venv just made
        [str(installed / "bin" / "python"), "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        + arguments,
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        response = _wait_for(f"http://127.0.0.1:{port}{path}", server)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    finally:
        stop_process_group(server)
        server.stderr.close()


def test_the_shipped_gunicorn_settings_keep_the_metrics_hooks(installed, tmp_path):
    """Plain gunicorn with ``-c python:authserver.gunicorn_settings``: the master serves every
    worker's metrics, as under `authserver serve`."""
    port, metrics_port = free_port(), free_port()
    env = _clean_environment(tmp_path, port) | {
        "RESOURCE_API_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}"
    }
    server = subprocess.Popen(  # noqa: S603 - gunicorn of the venv just made
        [str(installed / "bin" / "python"), "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        + ["-c", "python:authserver.gunicorn_settings", "resource_api.wsgi:app"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", server)
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        metrics = _wait_for(f"http://127.0.0.1:{metrics_port}/metrics", server)
        assert metrics.status_code == 200
        assert "healthz" in metrics.text or "http_requests" in metrics.text
    finally:
        stop_process_group(server)
        server.stderr.close()


def _clean_environment(tmp_path: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith(("AUTHSERVER_", "RESOURCE_API_", "FLASK_"))
    }
    return env | {
        "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'auth.db'}",
        "RESOURCE_API_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
    }
