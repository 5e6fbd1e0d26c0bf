"""``authserver serve``: the addresses the services must know of each other follow the ports they
are bound to, unless the operator set them (issue 19, item 10)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from authserver.launcher import derived_settings, serve, url_of


def test_everything_follows_the_bound_ports():
    assert derived_settings("127.0.0.1:8000", api=True, demo_client=True, environ={}) == {
        "AUTHSERVER_ISSUER": "http://127.0.0.1:8000",
        "AUTHSERVER_DEFAULT_AUDIENCE": "http://127.0.0.1:8001",
        "RESOURCE_API_ISSUER": "http://127.0.0.1:8000",
        "RESOURCE_API_AUDIENCE": "http://127.0.0.1:8001",
        "DEMO_CLIENT_ISSUER": "http://127.0.0.1:8000",
        "DEMO_CLIENT_API_URL": "http://127.0.0.1:8001",
        "DEMO_CLIENT_REDIRECT_URI": "http://127.0.0.1:8002/callback",
        "DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI": "http://127.0.0.1:8002/",
        # The demo's back-channel logout receiver is on loopback over http.
        "AUTHSERVER_OUTBOUND_ALLOW_LOOPBACK": "true",
    }


def test_a_public_bind_keeps_the_outbound_guard():
    settings = derived_settings("0.0.0.0:8000", api=False, demo_client=True, environ={})
    assert "AUTHSERVER_OUTBOUND_ALLOW_LOOPBACK" not in settings


def test_the_server_alone_sets_only_its_issuer():
    """Without --api, the audience stays the configured one: the API runs somewhere else."""
    assert derived_settings("127.0.0.1:8000", api=False, demo_client=False, environ={}) == {
        "AUTHSERVER_ISSUER": "http://127.0.0.1:8000"
    }


def test_what_the_operator_set_is_kept_and_followed():
    environ = {"AUTHSERVER_ISSUER": "https://id.example.com", "RESOURCE_API_AUDIENCE": "urn:api"}
    settings = derived_settings("127.0.0.1:8000", api=True, demo_client=True, environ=environ)
    assert "AUTHSERVER_ISSUER" not in settings and "RESOURCE_API_AUDIENCE" not in settings
    assert settings["RESOURCE_API_ISSUER"] == "https://id.example.com"
    assert settings["DEMO_CLIENT_ISSUER"] == "https://id.example.com"
    assert settings["AUTHSERVER_DEFAULT_AUDIENCE"] == "urn:api"


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("localhost:7000", "http://localhost:7000"),
        ("[::1]:7000", "http://[::1]:7000"),
        ("0.0.0.0:7000", "http://127.0.0.1:7000"),
        ("[::]:7000", "http://[::1]:7000"),
    ],
)
def test_the_url_of_a_bind(bind, url):
    assert url_of(bind) == url


def test_print_settings_prints_name_value_lines_and_starts_nothing(monkeypatch):
    for name in ("AUTHSERVER_ISSUER", "RESOURCE_API_AUDIENCE", "DEMO_CLIENT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        serve, ["--bind", "127.0.0.1:6100", "--api", "--demo-client", "--print-settings"]
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.output.splitlines())
    assert lines["AUTHSERVER_ISSUER"] == "http://127.0.0.1:6100"
    assert lines["DEMO_CLIENT_REDIRECT_URI"] == "http://127.0.0.1:6102/callback"


def test_a_bind_that_is_not_host_port_is_refused():
    result = CliRunner().invoke(serve, ["--bind", "unix:/tmp/x.sock", "--api", "--print-settings"])
    assert result.exit_code != 0
    assert "HOST:PORT" in result.output


def test_a_unix_socket_bind_derives_nothing():
    """gunicorn's ``unix:PATH``: there is no URL to derive, so the configured issuer stands."""
    assert derived_settings("unix:/run/authserver.sock", False, False, environ={}) == {}
