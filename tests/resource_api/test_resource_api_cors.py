"""CORS: pages on the origins in RESOURCE_API_CORS_ORIGINS may call the API (SPEC env table)."""

from __future__ import annotations

import pytest

from resource_api import create_app
from resource_api.config import ConfigError

from .api_testing import bearer

SPA = "http://127.0.0.1:5173"
OTHER = "https://evil.example"


@pytest.fixture
def cors_client(make_app):
    return make_app(CORS_ORIGINS=f"{SPA} https://app.example").test_client()


def preflight(client, origin: str | None, method: str = "GET"):
    headers = {
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    if origin:
        headers["Origin"] = origin
    return client.options("/api/events", headers=headers)


def test_preflight_from_a_listed_origin(cors_client):
    answer = preflight(cors_client, SPA, "POST")
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == SPA
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers


def test_actual_request_from_a_listed_origin_can_read_the_answer(cors_client, token):
    answer = cors_client.get("/api/me", headers={"Origin": SPA, **bearer(token)})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == SPA
    assert "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers


def test_bearer_errors_are_readable_from_a_listed_origin(cors_client, make_token):
    """WWW-Authenticate is exposed, so a browser app can tell an expired token from no scope."""
    answer = cors_client.get(
        "/api/events", headers={"Origin": SPA, **bearer(make_token(scope="profile"))}
    )
    assert answer.status_code == 403
    assert answer.headers["Access-Control-Allow-Origin"] == SPA
    exposed = {
        h.strip().lower() for h in answer.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert "www-authenticate" in exposed


@pytest.mark.parametrize("origin", [OTHER, "http://127.0.0.1:5174", "null"])
def test_other_origins_get_no_cors_headers(cors_client, token, origin):
    answer = preflight(cors_client, origin)
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Methods" not in answer.headers
    assert "Origin" in answer.headers["Vary"]
    answer = cors_client.get("/api/me", headers={"Origin": origin, **bearer(token)})
    assert answer.status_code == 200  # CORS hides the answer from the page; it refuses nothing
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_no_origin_gets_no_cors_headers(cors_client, token):
    assert "Access-Control-Allow-Origin" not in preflight(cors_client, None).headers
    answer = cors_client.get("/api/me", headers=bearer(token))
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Origin" in answer.headers["Vary"]


def test_by_default_no_origin_is_allowed(client, token):
    assert "Access-Control-Allow-Origin" not in preflight(client, SPA).headers
    answer = client.get("/api/me", headers={"Origin": SPA, **bearer(token)})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_the_setting_comes_from_the_environment(monkeypatch, database_config):
    monkeypatch.setenv("RESOURCE_API_CORS_ORIGINS", "http://127.0.0.1:5173  https://b.example")
    app = create_app(database_config)
    assert app.config["CORS_ORIGINS"] == {"http://127.0.0.1:5173", "https://b.example"}


@pytest.mark.parametrize(
    "value", ["*", "https://app.example/", "app.example", "https://App.example", "ftp://a.example"]
)
def test_anything_but_an_origin_is_refused(database_config, value):
    with pytest.raises(ConfigError, match="RESOURCE_API_CORS_ORIGINS"):
        create_app({**database_config, "CORS_ORIGINS": value})
