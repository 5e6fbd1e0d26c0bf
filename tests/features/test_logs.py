"""Logs: one JSON line per request on stdout, a request id, and never a secret."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, current_app

from authserver import create_app
from tests import factories
from tests.helpers import (
    basic_auth,
    client_credentials_token,
    exchange_code,
    get_code,
    login,
    pkce_pair,
    refresh,
)

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
INITIAL_ACCESS_TOKEN = "initial-access-token-for-the-log-test"
BEHIND_A_PROXY = {"TRUSTED_PROXIES": 1}
WRONG_PASSWORD = "wrong-password-that-must-not-be-logged"
WRONG_SECRET = "wrong-client-secret-that-must-not-be-logged"


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is JSON, or this fails


def request_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [
        line for line in json_lines(capsys.readouterr().out) if line["logger"].endswith(".requests")
    ]


def test_each_request_writes_one_json_line_with_its_fields(app: Flask, capsys) -> None:
    http = app.test_client()
    capsys.readouterr()
    response = http.get("/healthz?code=not-for-the-log&state=x")
    (line,) = request_lines(capsys)
    assert REQUEST_FIELDS <= set(line)
    assert line["service"] == "authserver"
    assert line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["remote_addr"] == "127.0.0.1"
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert "not-for-the-log" not in json.dumps(line)

    http.get("/no-such-page")
    http.get("/healthz")
    lines = request_lines(capsys)
    assert [(x["path"], x["status"]) for x in lines] == [("/no-such-page", 404), ("/healthz", 200)]
    assert lines[0]["request_id"] != lines[1]["request_id"]


def test_the_token_endpoint_line_names_the_client_and_the_outcome(
    app: Flask, capsys, resource_server: factories.ClientInfo
) -> None:
    http = app.test_client()
    capsys.readouterr()
    client_credentials_token(http, resource_server)
    http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(resource_server.client_id, WRONG_SECRET),
    )
    issued, refused = request_lines(capsys)
    assert issued["client_id"] == resource_server.client_id
    assert (issued["grant_type"], issued["outcome"], issued["status"]) == (
        "client_credentials",
        "ok",
        200,
    )
    assert "client_id" not in refused  # it did not authenticate
    assert (refused["outcome"], refused["status"]) == ("invalid_client", 401)


def test_the_authorize_line_names_the_client_and_its_outcome(
    app: Flask, capsys, user: factories.UserInfo, confidential_client: factories.ClientInfo
) -> None:
    http = app.test_client()
    login(http, user.email, user.password)
    get_code(http, confidential_client)
    lines = [x for x in request_lines(capsys) if x["path"] == "/oauth/authorize"]
    assert lines[-1]["client_id"] == confidential_client.client_id
    assert lines[-1]["outcome"] == "code_issued"


@pytest.mark.parametrize(
    ("app_config", "sent", "honoured"),
    [
        ({}, "from-the-client-123", False),  # anyone can send the header
        (BEHIND_A_PROXY, "from-the-proxy_1.2-3", True),
        (BEHIND_A_PROXY, "x" * 128, True),
        (BEHIND_A_PROXY, "x" * 129, False),  # too long
        (BEHIND_A_PROXY, "has spaces", False),
        (BEHIND_A_PROXY, 'quote"and{json}', False),
        (BEHIND_A_PROXY, "", False),
    ],
)
def test_a_request_id_is_taken_only_from_a_trusted_proxy_and_in_a_sane_shape(
    app: Flask, capsys, sent: str, honoured: bool
) -> None:
    capsys.readouterr()
    response = app.test_client().get("/healthz", headers={"X-Request-ID": sent})
    (line,) = request_lines(capsys)
    returned = response.headers["X-Request-ID"]
    assert line["request_id"] == returned
    if honoured:
        assert returned == sent
    else:
        assert returned != sent and re.fullmatch(r"[0-9a-f]{32}", returned)


def test_other_lines_of_a_request_carry_its_request_id(app: Flask, capsys) -> None:
    def noisy() -> str:
        current_app.logger.warning("something worth a line")
        return "ok"

    app.add_url_rule("/noisy", "noisy", noisy)
    capsys.readouterr()
    response = app.test_client().get("/noisy")
    warning, request_line = json_lines(capsys.readouterr().out)
    assert warning["message"] == "something worth a line"
    assert warning["level"] == "WARNING"
    assert warning["request_id"] == request_line["request_id"] == response.headers["X-Request-ID"]


def test_pytest_still_captures_the_records(app: Flask, caplog) -> None:
    with caplog.at_level(logging.INFO):
        app.test_client().get("/healthz")
    assert any(r.name == "authserver.requests" for r in caplog.records)


def test_with_nobody_else_listening_the_line_is_written_without_a_log_record(
    app: Flask, capsys, monkeypatch
) -> None:
    """As under gunicorn, where only our stdout handler listens: the request line skips
    ``logging``'s per-record work (a record, its caller, the handler walk) and is still
    written, once, in the same shape as every other line."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # pytest's own capture, gone
    made = []
    make_record = logging.Logger.makeRecord

    def counted(self, *args, **kwargs):
        made.append(self.name)
        return make_record(self, *args, **kwargs)

    monkeypatch.setattr(logging.Logger, "makeRecord", counted)
    http = app.test_client()
    capsys.readouterr()
    response = http.get("/healthz")
    (line,) = request_lines(capsys)
    assert made == []
    assert REQUEST_FIELDS <= set(line)
    assert (line["logger"], line["level"], line["message"]) == (
        "authserver.requests",
        "INFO",
        "GET /healthz 200",
    )
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "created", [0.0, 1234567890.001, 1700000000.5004, 1700000000.9999996, 1264566383.9319994]
)
def test_request_line_times_are_written_as_datetime_writes_them(created: float) -> None:
    from jsonlog import iso_time  # the request line's own clock formatting

    assert iso_time(created) == datetime.fromtimestamp(created, UTC).isoformat(
        timespec="milliseconds"
    )


@pytest.mark.parametrize("app_config", [{"LOG_FORMAT": "text"}])
def test_text_format_is_one_plain_line_per_request(app: Flask, capsys) -> None:
    capsys.readouterr()
    response = app.test_client().get("/healthz")
    (line,) = capsys.readouterr().out.splitlines()
    assert "GET /healthz 200" in line and response.headers["X-Request-ID"] in line


def test_an_unknown_log_format_is_refused(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        create_app({"INSTANCE_PATH": str(tmp_path), "LOG_FORMAT": "xml"})


@pytest.mark.parametrize(
    "app_config",
    [{"REGISTRATION_ENABLED": True, "REGISTRATION_INITIAL_ACCESS_TOKEN": INITIAL_ACCESS_TOKEN}],
)
def test_no_secret_issued_in_full_flows_reaches_the_logs(
    app: Flask,
    capsys,
    caplog,
    user: factories.UserInfo,
    confidential_client: factories.ClientInfo,
    public_client: factories.ClientInfo,
    resource_server: factories.ClientInfo,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [
        user.password,
        WRONG_PASSWORD,
        WRONG_SECRET,
        INITIAL_ACCESS_TOKEN,
        confidential_client.secret,
        resource_server.secret,
    ]
    browser = app.test_client()
    login(browser, user.email, WRONG_PASSWORD)
    login(browser, user.email, user.password)
    secrets.append(browser.get_cookie("authserver_session").value)

    # Authorization code (confidential, with consent), then refresh.
    code, _ = get_code(browser, confidential_client, scope="openid profile email offline_access")
    tokens = exchange_code(browser, confidential_client, code).get_json()
    refreshed = refresh(browser, confidential_client, tokens["refresh_token"]).get_json()
    secrets += [code, *_token_values(tokens), *_token_values(refreshed)]

    # A public client with PKCE.
    verifier, challenge = pkce_pair()
    public_code, _ = get_code(
        browser, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    public_tokens = exchange_code(browser, public_client, public_code, code_verifier=verifier)
    secrets += [verifier, public_code, *_token_values(public_tokens.get_json())]

    # A client for itself; introspection, userinfo, revocation.
    service_token = client_credentials_token(browser, resource_server)
    secrets.append(service_token)
    http = app.test_client()
    for token in (refreshed["access_token"], service_token, "made-up-token-value-123"):
        response = http.post(
            "/oauth/introspect",
            data={"token": token},
            headers=basic_auth(resource_server.client_id, resource_server.secret),
        )
        assert response.status_code == 200
    assert (
        http.get(
            "/oauth/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
        ).status_code
        == 200
    )
    response = http.post(
        "/oauth/revoke",
        data={"token": refreshed["refresh_token"]},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert response.status_code == 200

    # Dynamic registration and client management (RFC 7591, RFC 7592).
    response = http.post(
        "/oauth/register",
        json={
            "client_name": "Logged App",
            "redirect_uris": ["https://logged.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "openid profile",
        },
        headers={"Authorization": f"Bearer {INITIAL_ACCESS_TOKEN}"},
    )
    assert response.status_code == 201, response.data
    registered = response.get_json()
    secrets += [registered["client_secret"], registered["registration_access_token"]]
    path = registered["registration_client_uri"].removeprefix(app.config["ISSUER"])
    bearer = {"Authorization": f"Bearer {registered['registration_access_token']}"}
    assert http.get(path, headers=bearer).status_code == 200
    http.get(path, headers={"Authorization": "Bearer wrong-registration-token-xyz"})
    secrets.append("wrong-registration-token-xyz")

    # Last, as a replay ends the grant: the code again, and a wrong secret.
    exchange_code(browser, confidential_client, code)
    browser.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        headers=basic_auth(confidential_client.client_id, WRONG_SECRET),
    )

    captured = capsys.readouterr()
    lines = json_lines(captured.out)
    assert len([x for x in lines if x["logger"] == "authserver.requests"]) >= 20
    everything = "\n".join(
        [
            captured.out,
            captured.err,
            caplog.text,
            *(repr(vars(record)) for record in caplog.records),
        ]
    )
    secrets = [s for s in secrets if s]
    assert len(secrets) >= 20
    leaked = [s for s in secrets if s in everything]
    assert leaked == []
    assert "Authorization" not in everything and "Basic " not in everything


def _token_values(response: dict) -> list[str]:
    return [response[k] for k in ("access_token", "refresh_token", "id_token") if k in response]
