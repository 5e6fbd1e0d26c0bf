"""The services under test, started the way a user starts them: databases, CLI, gunicorn.

Only public surfaces: ``flask --app ... db upgrade``, ``users create``, ``clients create``,
``keys rotate``, environment variables, and HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

REPO = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPO / "scripts" / "gunicorn.conf.py"
APPS = {"auth": "wsgi:auth_app", "api": "wsgi:api_app", "baseline": "bench.baseline:create_app()"}
READY_PATHS = {"auth": "/healthz", "api": "/openapi.json", "baseline": "/hello"}


def gunicorn_settings() -> dict:
    """What gunicorn.conf.py (shared with ``make serve``) says, for the settings line."""
    conf = runpy.run_path(str(GUNICORN_CONF))
    return {"workers": conf["workers"], "worker_class": conf["worker_class"]}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sqlalchemy_url(admin_url: str, database: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(("postgresql+psycopg", parts.netloc, "/" + database, "", ""))


def _libpq_url(admin_url: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


@dataclass
class Stack:
    """Temporary directory, databases and the three gunicorn masters; ``close()`` undoes all."""

    db_kind: str = "sqlite"
    postgresql_url: str = "postgresql://127.0.0.1:5432/test"
    log: Callable[[str], None] = print
    workdir: Path = field(init=False)
    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    credentials: dict = field(default_factory=dict)
    #: Settings for the services under test (``--set``), applied over the bench's own.
    settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-"))
        # The apps make their Flask instance folder (next to the package) even when every
        # setting comes from the environment; remove it again if it was ours and is empty.
        self._instance_existed = (REPO / "instance").exists()

    # -- databases ---------------------------------------------------------------------------

    def _database_urls(self) -> dict[str, str]:
        if self.db_kind == "sqlite":
            return {
                name: f"sqlite:///{self.workdir / (name + '.sqlite3')}"
                for name in ("auth", "api", "baseline")
            }
        import psycopg

        stem = "bench_" + secrets.token_hex(4)
        urls = {}
        try:
            with psycopg.connect(_libpq_url(self.postgresql_url), autocommit=True) as conn:
                for name in ("auth", "api", "baseline"):
                    database = f"{stem}_{name}"
                    conn.execute(f'CREATE DATABASE "{database}"')
                    self.databases.append(database)
                    urls[name] = _sqlalchemy_url(self.postgresql_url, database)
        except psycopg.Error as error:
            raise RuntimeError(
                f"cannot create databases via {self.postgresql_url}: {error}"
            ) from None
        self.log(f"created PostgreSQL databases {', '.join(self.databases)}")
        return urls

    def _drop_databases(self) -> None:
        if not self.databases:
            return
        import psycopg

        with psycopg.connect(_libpq_url(self.postgresql_url), autocommit=True) as conn:
            for database in list(self.databases):
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                self.databases.remove(database)
                self.log(f"dropped database {database}")

    # -- configuration and CLI ---------------------------------------------------------------

    def configure(self) -> None:
        ports = {name: free_port() for name in APPS}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        databases = self._database_urls()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AUTHSERVER_", "RESOURCE_API_", "BENCH_"))
        }
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        env.update(
            {
                "AUTHSERVER_DATABASE_URL": databases["auth"],
                "AUTHSERVER_ISSUER": self.urls["auth"],
                "AUTHSERVER_SECRET_KEY": secrets.token_hex(32),
                "AUTHSERVER_DEFAULT_AUDIENCE": self.urls["api"],
                # Codes are collected before the run that redeems them; 60 s could run out.
                "AUTHSERVER_CODE_TTL": "900",
                "RESOURCE_API_DATABASE_URL": databases["api"],
                "RESOURCE_API_ISSUER": self.urls["auth"],
                "RESOURCE_API_AUDIENCE": self.urls["api"],
                "BENCH_BASELINE_DATABASE_URL": databases["baseline"],
            }
        )
        env.update(self.settings)
        self.env = env

    def flask(self, app: str, *arguments: str) -> str:
        command = [sys.executable, "-m", "flask", "--app", app, *arguments]
        result = subprocess.run(  # noqa: S603
            command, cwd=REPO, env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"flask --app {app} {' '.join(arguments[:2])} failed:\n{result.stderr}"
            )
        return result.stdout

    def migrate_and_seed(self, scopes: str, redirect_uri: str) -> dict:
        self.flask("authserver", "db", "upgrade")
        self.flask("resource_api", "db", "upgrade")
        from . import baseline

        baseline.create_schema(self.env["BENCH_BASELINE_DATABASE_URL"])
        email, password = "bench@example.com", "bench-password-" + secrets.token_hex(8)
        user = json.loads(
            self.flask(
                "authserver",
                *("users", "create", "--email", email, "--password", password),
                *("--name", "Bench User", "--json"),
            )
        )
        app = json.loads(
            self.flask(
                "authserver",
                *("clients", "create", "--name", "Bench App", "--redirect-uri", redirect_uri),
                *("--scope", scopes),
                *("--grant-type", "authorization_code", "--grant-type", "refresh_token"),
                *("--grant-type", "client_credentials", "--json"),
            )
        )
        resource_server = json.loads(
            self.flask(
                "authserver",
                *("clients", "create", "--name", "Bench Resource API", "--scope", "events:read"),
                *("--grant-type", "client_credentials", "--resource-server", "--json"),
            )
        )
        self.flask("authserver", "keys", "rotate", "--json")
        self.credentials = {
            "email": email,
            "password": password,
            "sub": user.get("sub"),
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "rs_client_id": resource_server["client_id"],
            "rs_client_secret": resource_server["client_secret"],
            "redirect_uri": redirect_uri,
        }
        return self.credentials

    # -- gunicorn ----------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        for name, target in APPS.items():
            bind = urlsplit(self.urls[name]).netloc
            log = open(self.workdir / f"{name}.log", "wb")
            command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF)]
            command += ["--bind", bind, target]
            self.processes[name] = subprocess.Popen(  # noqa: S603
                command,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop them in order
            )
            log.close()
        deadline = time.monotonic() + timeout
        for name in APPS:
            self._wait_ready(name, deadline)
        self.log("services up: " + ", ".join(f"{k} {v}" for k, v in self.urls.items()))

    def _wait_ready(self, name: str, deadline: float) -> None:
        url = self.urls[name] + READY_PATHS[name]
        while True:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{self.log_tail(name)}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready at {url}:\n{self.log_tail(name)}")
            time.sleep(0.2)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # gunicorn: graceful shutdown of workers
        deadline = time.monotonic() + 15
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{name} did not stop in time: killing its process group")
            # The master led its own session: its workers are in that process group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.processes.clear()

    def close(self) -> None:
        errors = []
        for step in (self._stop, self._drop_databases):
            try:
                step()
            except Exception as error:
                errors.append(error)
                self.log(f"cleanup: {error}")
        shutil.rmtree(self.workdir, ignore_errors=True)
        if not self._instance_existed:
            with contextlib.suppress(OSError):
                (REPO / "instance").rmdir()  # only if empty
        if errors:
            raise errors[0]
