"""The API's logs: one JSON line per request on stdout, a request id, never the token."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask

from resource_api.config import ConfigError

from .api_testing import bearer

REQUEST_FIELDS = {
    "time",
    "level",
    "service",
    "logger",
    "request_id",
    "message",
    "method",
    "path",
    "status",
    "duration_ms",
    "remote_addr",
}


def request_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "resource_api.requests"]


def test_each_request_writes_one_json_line_without_the_token(
    make_app: Callable[..., Flask], token: str, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    http = make_app(ALLOW_QUERY_TOKEN=True).test_client()
    capsys.readouterr()
    first = http.get("/api/events?limit=5", headers=bearer(token))
    second = http.get(f"/api/me?access_token={token}")
    http.get("/api/events", headers=bearer("not-a-valid-token-at-all"))
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    lines = [line for line in lines if line["logger"] == "resource_api.requests"]
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("GET", "/api/events", 200),
        ("GET", "/api/me", 200),
        ("GET", "/api/events", 401),
    ]
    for line in lines:
        assert REQUEST_FIELDS <= set(line)
        assert line["service"] == "resource_api"
        assert line["remote_addr"] == "127.0.0.1"
        assert line["duration_ms"] >= 0
    assert lines[0]["request_id"] == first.headers["X-Request-ID"]
    assert lines[1]["request_id"] == second.headers["X-Request-ID"]
    everything = captured.out + captured.err + caplog.text
    assert token not in everything and "not-a-valid-token-at-all" not in everything
    assert token.split(".")[2] not in everything  # nor its signature alone


BEHIND_A_PROXY = {"TRUSTED_PROXIES": 1}


@pytest.mark.parametrize(
    ("settings", "sent", "honoured"),
    [
        ({}, "from-the-client-123", False),  # anyone can send the header
        (BEHIND_A_PROXY, "from-the-proxy_1.2-3", True),
        (BEHIND_A_PROXY, "y" * 128, True),
        (BEHIND_A_PROXY, "y" * 129, False),
        (BEHIND_A_PROXY, "tab\there", False),
        (BEHIND_A_PROXY, "a/b", False),
    ],
)
def test_a_request_id_is_taken_only_from_a_trusted_proxy_and_in_a_sane_shape(
    make_app: Callable[..., Flask], capsys, settings: dict, sent: str, honoured: bool
) -> None:
    http = make_app(**settings).test_client()
    capsys.readouterr()
    response = http.get("/openapi.json", headers={"X-Request-ID": sent})
    (line,) = request_lines(capsys)
    returned = response.headers["X-Request-ID"]
    assert line["request_id"] == returned
    if honoured:
        assert returned == sent
    else:
        assert returned != sent and re.fullmatch(r"[0-9a-f]{32}", returned)


def test_behind_a_trusted_proxy_the_line_names_the_client_address(
    make_app: Callable[..., Flask], capsys
) -> None:
    http = make_app(**BEHIND_A_PROXY).test_client()
    capsys.readouterr()
    http.get("/openapi.json", headers={"X-Forwarded-For": "203.0.113.7"})
    (line,) = request_lines(capsys)
    assert line["remote_addr"] == "203.0.113.7"


def test_lines_written_during_a_request_carry_its_id(
    make_app: Callable[..., Flask], token: str, capsys
) -> None:
    """The API's own warning (the issuer refuses its credentials) names the request."""
    secret = "wrong-introspection-secret-xyz"
    http = make_app(INTROSPECTION=True, INTROSPECTION_CLIENT_SECRET=secret).test_client()
    capsys.readouterr()
    response = http.get("/api/me", headers=bearer(token))
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]
    assert response.status_code == 503, response.data
    warnings = [line for line in lines if line["level"] == "WARNING"]
    assert warnings and all(w["request_id"] == response.headers["X-Request-ID"] for w in warnings)
    assert secret not in out and token not in out


@pytest.mark.parametrize(
    "settings",
    [{"TRUSTED_PROXIES": -1}, {"TRUSTED_PROXIES": "two"}, {"LOG_FORMAT": "xml"}],
)
def test_log_settings_are_checked(make_app: Callable[..., Flask], settings: dict) -> None:
    with pytest.raises(ConfigError):
        make_app(**settings)
