"""`authserver check`: one line per item, --json, and a non-zero exit on any failure."""

from __future__ import annotations

import json

import pytest


def run_check(app, *args: str):
    return app.test_cli_runner().invoke(args=["check", *args])


def test_the_defaults_pass_with_a_development_warning(app):
    result = run_check(app)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert any(line.startswith("WARN  issuer:") for line in lines)
    assert all(line.split()[0] in ("PASS", "WARN") for line in lines)


def test_json_output_lists_every_check(app):
    body = json.loads(run_check(app, "--json").output)
    assert body["ok"] is True
    items = {c["item"] for c in body["checks"]}
    assert {"issuer", "secret key", "session cookie", "PKCE", "code lifetime"} <= items
    assert {"refresh absolute lifetime", "dynamic registration", "signing key age"} <= items


@pytest.mark.parametrize(
    ("app_config", "item"),
    [
        ({"CODE_TTL": 3600}, "code lifetime"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "throttling storage"),
        ({"SESSION_COOKIE_SAMESITE": "None"}, "session cookie"),
    ],
)
def test_an_unsafe_setting_fails_and_names_itself(app, item):
    result = run_check(app, "--json")
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.output)["checks"] if c["status"] == "fail"]
    assert [c["item"] for c in failed] == [item]


@pytest.mark.parametrize("app_config", [{"REGISTRATION_ENABLED": True}])
def test_open_registration_is_a_warning(app):
    checks = json.loads(run_check(app, "--json").output)["checks"]
    registration = next(c for c in checks if c["item"] == "dynamic registration")
    assert registration["status"] == "warn"
    assert "INITIAL_ACCESS_TOKEN" in registration["detail"]


@pytest.mark.parametrize(
    ("app_config", "status", "detail"),
    [
        ({}, "pass", "off"),
        ({"METRICS_ADDRESS": "127.0.0.1:9100"}, "pass", "loopback"),
        ({"METRICS_ADDRESS": "[::1]:9100"}, "pass", "loopback"),
        ({"METRICS_ADDRESS": "10.1.2.3:9100"}, "pass", "private"),
        ({"METRICS_ADDRESS": "0.0.0.0:9100"}, "warn", "every interface"),
        ({"METRICS_ADDRESS": "[::]:9100"}, "warn", "every interface"),
        ({"METRICS_ADDRESS": "8.8.8.8:9100"}, "warn", "public address"),
        ({"METRICS_ADDRESS": "metrics.example:9100"}, "warn", "host name"),
    ],
)
def test_metrics_exposure_warns_unless_the_address_is_private(app, status, detail):
    result = run_check(app, "--json")
    assert result.exit_code == 0, result.output
    checks = json.loads(result.output)["checks"]
    metrics = next(c for c in checks if c["item"] == "metrics exposure")
    assert metrics["status"] == status
    assert detail in metrics["detail"]
    if status == "warn":
        assert "AUTHSERVER_METRICS_ADDRESS" in metrics["detail"]
        assert "client ids" in metrics["detail"]


def test_a_metrics_address_without_a_host_fails_the_check(app):
    # The app refuses it at start already; check names it all the same.
    app.config["METRICS_ADDRESS"] = 9100  # as AUTHSERVER_METRICS_ADDRESS=9100 arrives (JSON)
    result = run_check(app, "--json")
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.output)["checks"] if c["status"] == "fail"]
    assert [c["item"] for c in failed] == ["metrics exposure"]


def test_the_metadata_passes_rfc_8414_at_both_locations(app):
    checks = {c["item"]: c for c in json.loads(run_check(app, "--json").output)["checks"]}
    metadata = checks["metadata (RFC 8414)"]
    assert metadata["status"] == "pass", metadata
    assert "2 locations" in metadata["detail"]
    assert "/.well-known/oauth-authorization-server" in metadata["detail"]


@pytest.mark.parametrize(
    "app_config",
    [{"ISSUER": "http://127.0.0.1:5000/tenant", "DEFAULT_AUDIENCE": "http://127.0.0.1:5001"}],
)
def test_an_issuer_with_a_path_is_served_at_all_three_locations(app):
    checks = {c["item"]: c for c in json.loads(run_check(app, "--json").output)["checks"]}
    metadata = checks["metadata (RFC 8414)"]
    assert metadata["status"] == "pass", metadata
    for location in (
        "/.well-known/oauth-authorization-server/tenant",
        "/.well-known/openid-configuration/tenant",
        "/tenant/.well-known/openid-configuration",
    ):
        assert location in metadata["detail"]


def test_metadata_that_breaks_rfc_8414_fails_the_check(app, monkeypatch):
    from authserver.oauth2 import metadata as metadata_module

    built = metadata_module.server_metadata

    def without_s256():
        document = built()
        document["code_challenge_methods_supported"] = ["plain"]
        return document

    monkeypatch.setattr("authserver.views.oidc.server_metadata", without_s256)
    result = run_check(app, "--json")
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.output)["checks"] if c["status"] == "fail"]
    assert [c["item"] for c in failed] == ["metadata (RFC 8414)"]
    assert "S256" in failed[0]["detail"] and "plain" in failed[0]["detail"]


@pytest.mark.parametrize(
    ("app_config", "status"),
    [
        ({}, "pass"),
        ({"CIMD_ALLOW_LOOPBACK": True}, "pass"),  # the test issuer is on loopback
        (
            {
                "CIMD_ALLOW_LOOPBACK": True,
                "ISSUER": "https://id.example.com",
                "SECRET_KEY": "k" * 40,
                "SESSION_COOKIE_SECURE": True,
                "TRUSTED_PROXIES": 1,
            },
            "fail",
        ),
        (
            {
                "OUTBOUND_ALLOW_LOOPBACK": True,
                "ISSUER": "https://id.example.com",
                "SECRET_KEY": "k" * 40,
                "SESSION_COOKIE_SECURE": True,
                "TRUSTED_PROXIES": 1,
            },
            "fail",
        ),
    ],
)
def test_fetching_from_loopback_fails_the_check_on_a_public_server(app, status):
    checks = {c["item"]: c for c in json.loads(run_check(app, "--json").output)["checks"]}
    assert checks["outbound requests to loopback"]["status"] == status
