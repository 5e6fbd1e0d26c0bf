"""The demo client against the real authorization server and resource API, in-process.

The demo client reaches both over HTTP only: every ``requests`` session it makes (Authlib's
and its own) gets transport adapters that call the server's and the API's WSGI apps. The
browser is two Flask test clients, one per site, and the tests follow redirects by hand.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from examples.demo_client import create_app as create_demo_app
from examples.demo_client.models import db as demo_db
from tests.databases import drop_postgres_schema, empty_tables, make_postgres_schema, schema_options
from tests.end_to_end.conftest import api_clock, api_database, make_api  # noqa: F401
from tests.helpers import consent, csrf_token, login
from tests.resource_api.api_testing import FakeClock
from tests.wsgi_transport import WSGITransport

ISSUER = "http://127.0.0.1:5000"
API = "http://127.0.0.1:5001"
DEMO = "http://127.0.0.1:5002"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"


@dataclass
class Demo:
    """The demo client app, its HTTP traffic, and the secret the ``demo`` command printed."""

    app: Flask
    secret: str
    auth_transport: WSGITransport
    api_transport: WSGITransport
    clock: FakeClock
    browsers: list[FlaskClient] = field(default_factory=list)

    def browser(self) -> FlaskClient:
        return self.app.test_client()


@pytest.fixture(scope="session")
def demo_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """SQLite by default; on a PostgreSQL run, a schema of its own there too."""
    url = os.environ.get("AUTHSERVER_DATABASE_URL", "")
    if url.startswith("postgresql"):
        schema = make_postgres_schema(url)
        yield url, schema_options(schema)
        drop_postgres_schema(url, schema)
    else:
        path = tmp_path_factory.mktemp("demo_db") / "demo_client.sqlite3"
        yield f"sqlite:///{path}", {}


@pytest.fixture
def demo_registration(app: Flask) -> dict:
    """What ``flask --app authserver demo --json`` prints: the demo user and client."""
    result = app.test_cli_runner().invoke(args=["demo", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def demo_clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def make_demo(
    app: Flask,
    make_api,  # noqa: F811
    demo_registration: dict,
    demo_clock: FakeClock,
    demo_database_url: tuple[str, dict],
    tmp_path: Path,
):
    built: list[Flask] = []

    def build(api: Flask | None = None, **settings: object) -> Demo:
        api = api or make_api()
        auth_transport, api_transport = WSGITransport(app), WSGITransport(api)

        def mount(session) -> None:
            session.mount(f"{ISSUER}/", auth_transport)
            session.mount(f"{API}/", api_transport)

        url, engine_options = demo_database_url
        demo_app = create_demo_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path / "demo_instance"),
                "SECRET_KEY": "demo-test-key-" + "y" * 32,
                "DATABASE_URL": url,
                "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
                "CLIENT_SECRET": demo_registration["client_secret"],
                "CLOCK": demo_clock,
                "HTTP_SESSION_HOOK": mount,
                **settings,
            }
        )
        built.append(demo_app)
        return Demo(
            demo_app, demo_registration["client_secret"], auth_transport, api_transport, demo_clock
        )

    yield build
    for demo_app in built:
        with demo_app.app_context():
            demo_db.session.remove()
            empty_tables(demo_db.engine, demo_db.metadata)
            demo_db.engine.dispose()


@pytest.fixture
def demo(make_demo) -> Demo:
    return make_demo()


@pytest.fixture
def server_browser(app: Flask, demo_registration: dict) -> FlaskClient:
    """A browser logged in at the authorization server as the demo user."""
    browser = app.test_client()
    response = login(browser, DEMO_EMAIL, DEMO_PASSWORD)
    assert response.status_code == 302, response.data
    return browser


def start_sign_in(browser: FlaskClient) -> str:
    """Click "Sign up with Authserver"; the authorization URL the browser is sent to."""
    page = browser.get("/")
    assert b"Sign up with Authserver" in page.data
    response = browser.post("/login", data={"csrf_token": csrf_token(page.data)})
    assert response.status_code == 302, response.data
    location = response.headers["Location"]
    assert location.startswith(f"{ISSUER}/oauth/authorize?"), location
    return location


def authorize(
    server: FlaskClient, location: str, decision: str = "allow", scopes: list[str] | None = None
) -> str:
    """At the server: consent (if asked); the redirect back to the demo client."""
    path = location[len(ISSUER) :]
    response = server.get(path)
    if response.status_code == 200:
        response = consent(server, path, decision=decision, scopes=scopes)
    assert response.status_code == 302, response.data
    back = response.headers["Location"]
    assert back.startswith(f"{DEMO}/callback?"), back
    return back


def follow(browser: FlaskClient, url: str) -> TestResponse:
    assert url.startswith(DEMO), url
    return browser.get(url[len(DEMO) :])


def sign_in(
    browser: FlaskClient,
    server: FlaskClient,
    decision: str = "allow",
    scopes: list[str] | None = None,
) -> TestResponse:
    """The whole "Sign up with Authserver" round trip; the demo client's answer to the callback."""
    return follow(browser, authorize(server, start_sign_in(browser), decision, scopes))


def form_token(browser: FlaskClient, path: str = "/dashboard") -> str:
    return csrf_token(browser.get(path).data)
