"""Real services, a real browser: the authorization server, the resource API and the demo client
under gunicorn on free loopback ports, a single-page app's static files from a small server in
this process, and headless Chromium (Debian's ``chromium``, driven by Playwright for Python).

Databases: temporary SQLite files, or, when ``AUTHSERVER_DATABASE_URL`` points at PostgreSQL, a
fresh schema per service there (dropped at the end). Screenshots of every page visited go to
``test-artifacts/screenshots/<database>/``; the run prints that path.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``), the ``playwright`` package and
``npm ci --prefix tests/browser/spa``; without them the tests are skipped here and fail in CI.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.databases import IN_CI, drop_postgres_schema, make_postgres_schema
from tests.mail_server import Inbox, smtp_server
from tests.processes import ServerProcess, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPA_DIR = HERE / "spa"
CHROMIUM = os.environ.get("BROWSER_TESTS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
STARTUP_SECONDS = 30
PASSWORD = "a long browser passphrase"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - reported by the ``browser`` fixture
    sync_playwright = None


def _missing() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"Chromium is not at {CHROMIUM} (apt-get install chromium)"
    for package in ("oidc-client-ts", "axe-core"):
        if not (SPA_DIR / "node_modules" / package / "package.json").exists():
            return f"{package} is not installed (npm ci --prefix tests/browser/spa)"
    return None


def require_browser_tools() -> None:
    """At the top of each test module: skip here, fail in CI, when something is missing."""
    problem = _missing()
    if problem and IN_CI:
        pytest.fail(f"browser tests need what CI installs: {problem}", pytrace=False)
    if problem:
        pytest.skip(f"browser tests skipped: {problem}", allow_module_level=True)


def database_name() -> str:
    url = os.environ.get("AUTHSERVER_DATABASE_URL", "")
    return "postgresql" if url.startswith("postgresql") else "sqlite"


# --- the services ------------------------------------------------------------------------------


class Service(ServerProcess):
    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Stack:
    """Where everything runs, and how to start more of it."""

    env: dict[str, str]
    workdir: Path
    issuer: str
    api: str
    spa: str
    demo_port: int
    database_urls: dict[str, str]
    #: What the server mailed (a real SMTP server in this process, AUTHSERVER_SMTP_URL).
    inbox: Inbox
    services: list[Service] = field(default_factory=list)

    @property
    def demo(self) -> str:
        return f"http://127.0.0.1:{self.demo_port}"

    def flask(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 - fixed argv: this interpreter, our app
            [sys.executable, "-m", "flask", "--app", "authserver", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def gunicorn(self, name: str, app: str, port: int, env: dict[str, str], probe: str) -> Service:
        log = self.workdir / f"{name.replace(' ', '_')}.log"
        with log.open("w") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter, our apps
                [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
                + ["--workers", "1", "--threads", "8", "--access-logfile", "-"]
                + ["--control-socket", str(self.workdir / f"{port}.ctl"), app],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        service = Service(name, f"http://127.0.0.1:{port}", process, log)
        self.services.append(service)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(requests.RequestException):
                if requests.get(service.url + probe, timeout=2).status_code < 500:
                    return service
            time.sleep(0.1)
        service.stop()
        raise AssertionError(f"{name} did not start:\n{service.tail()}")

    def start_demo_client(self, client_id: str, secret: str) -> Service:
        """The demo client app, for a client registered in the console."""
        env = {
            **self.env,
            "DEMO_CLIENT_CLIENT_ID": client_id,
            "DEMO_CLIENT_CLIENT_SECRET": secret,
            "DEMO_CLIENT_ISSUER": self.issuer,
            "DEMO_CLIENT_API_URL": self.api,
            "DEMO_CLIENT_REDIRECT_URI": f"{self.demo}/callback",
            "DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI": f"{self.demo}/",
            "DEMO_CLIENT_DATABASE_URL": self.database_urls["demo"],
            "DEMO_CLIENT_INSTANCE_PATH": str(self.workdir / "demo_instance"),
            "DEMO_CLIENT_SECRET_KEY": "browser-demo-" + "d" * 32,
        }
        return self.gunicorn(
            "demo client", "examples.demo_client:create_app()", self.demo_port, env, "/"
        )

    def failure_report(self) -> str:
        return "\n".join(service.tail() for service in self.services)


def _database_urls(tmp: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """One database per service: its own SQLite file, or its own PostgreSQL schema."""
    url = os.environ.get("AUTHSERVER_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return {name: f"sqlite:///{tmp / name}.sqlite3" for name in ("auth", "api", "demo")}, []
    urls, schemas = {}, []
    for name in ("auth", "api", "demo"):
        schema = make_postgres_schema(url)
        schemas.append((url, schema))
        separator = "&" if "?" in url else "?"
        urls[name] = f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    return urls, schemas


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_browser_tools()
    workdir = tmp_path_factory.mktemp("browser")
    auth_port, api_port, spa_port, demo_port = (free_port() for _ in range(4))
    issuer, api = f"http://127.0.0.1:{auth_port}", f"http://127.0.0.1:{api_port}"
    spa = f"http://127.0.0.1:{spa_port}"
    urls, schemas = _database_urls(workdir)
    mail = contextlib.ExitStack()
    smtp_url, inbox = mail.enter_context(smtp_server())
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AUTHSERVER_", "RESOURCE_API_"))
        },
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "AUTHSERVER_DATABASE_URL": urls["auth"],
        "AUTHSERVER_ISSUER": issuer,
        "AUTHSERVER_DEFAULT_AUDIENCE": api,
        "AUTHSERVER_SECRET_KEY": "browser-tests-" + "s" * 32,
        "AUTHSERVER_BCRYPT_ROUNDS": "4",
        "AUTHSERVER_RATELIMIT_ENABLED": "false",
        "AUTHSERVER_SMTP_URL": smtp_url,
        "AUTHSERVER_OUTBOX_INTERVAL": "0.2",
        # A client_id of http://127.0.0.1… names a metadata document served by a test
        # (test_metadata_document_client.py); only such client_ids behave differently.
        "AUTHSERVER_CIMD_ALLOW_LOOPBACK": "1",
        "RESOURCE_API_DATABASE_URL": urls["api"],
        "RESOURCE_API_ISSUER": issuer,
        "RESOURCE_API_AUDIENCE": api,
        "RESOURCE_API_CORS_ORIGINS": spa,
    }
    live = Stack(env, workdir, issuer, api, spa, demo_port, urls, inbox)
    spa_server = None
    try:
        live.flask("db", "upgrade")
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "resource_api", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        # Introspection, so a revoked grant stops working at the API at once (the walk's
        # "sign in again" step); the API authenticates with a client of its own.
        introspector = json.loads(
            live.flask(
                "clients",
                "create",
                "--name",
                "Resource API",
                "--scope",
                "events:read",
                "--grant-type",
                "client_credentials",
                "--resource-server",
                "--json",
            )  # fmt: skip
        )
        live.env.update(
            RESOURCE_API_INTROSPECTION="1",
            RESOURCE_API_INTROSPECTION_CACHE_TTL="0",
            RESOURCE_API_INTROSPECTION_CLIENT_ID=introspector["client_id"],
            RESOURCE_API_INTROSPECTION_CLIENT_SECRET=introspector["client_secret"],
        )
        live.gunicorn("authorization server", "wsgi:auth_app", auth_port, live.env, "/healthz")
        live.gunicorn("resource API", "wsgi:api_app", api_port, live.env, "/openapi.json")
        spa_server = serve_spa(spa_port, issuer, api)
        yield live
    finally:
        if spa_server is not None:
            spa_server.shutdown()
            spa_server.server_close()
        for service in live.services:
            service.stop()
        for url, schema in schemas:
            drop_postgres_schema(url, schema)
        mail.close()


class _SpaHandler(SimpleHTTPRequestHandler):
    config: dict = {}

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/config.json":
            body = json.dumps(self.config).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


def serve_spa(port: int, issuer: str, api: str) -> ThreadingHTTPServer:
    """tests/browser/spa/ (its page, its script, and oidc-client-ts from node_modules) on its
    own origin, with ``/config.json`` naming the issuer, the API and (later) its client id."""
    _SpaHandler.config = {"issuer": issuer, "api": api, "client_id": None}
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(_SpaHandler, directory=str(SPA_DIR)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser(stack: Stack) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Page]:
    # bypass_csp: axe-core is injected as a script tag, which the pages' CSP would refuse.
    context = browser.new_context(viewport={"width": 1000, "height": 800}, bypass_csp=True)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(stack.failure_report())
        with contextlib.suppress(Exception):
            opened.screenshot(path=str(screenshots_dir() / f"FAILED-{request.node.name}.png"))
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


def screenshots_dir() -> Path:
    folder = SCREENSHOTS / database_name()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = screenshots_dir()
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def pytest_terminal_summary(terminalreporter) -> None:
    folder = SCREENSHOTS / database_name()
    if folder.exists() and any(folder.glob("*.png")):
        terminalreporter.write_line(f"browser test screenshots: {folder}")


@pytest.fixture(scope="session")
def axe_source() -> str:
    return (SPA_DIR / "node_modules" / "axe-core" / "axe.min.js").read_text()


def new_email(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}@example.com"
