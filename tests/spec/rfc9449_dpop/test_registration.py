"""RFC 9449 §5.2 ``dpop_bound_access_tokens``: registered through RFC 7591, the console or the
command line, echoed back, and enforced at the token endpoint."""

from __future__ import annotations

import json
import re

import pytest

from authserver.extensions import db
from authserver.models import Client
from tests.helpers import assert_oauth_error, basic_auth, csrf_token

from .proofs import proof

TOKEN_URL = "http://127.0.0.1:5000/oauth/token"
METADATA = {
    "client_name": "Bound service",
    "grant_types": ["client_credentials"],
    "scope": "events:read",
    "token_endpoint_auth_method": "client_secret_basic",
}


@pytest.mark.parametrize("app_config", [{"REGISTRATION_ENABLED": True}])
def test_dynamic_registration_keeps_and_enforces_it(client, app_config) -> None:
    answer = client.post("/oauth/register", json={**METADATA, "dpop_bound_access_tokens": True})
    assert answer.status_code == 201, answer.data
    info = answer.get_json()
    assert info["dpop_bound_access_tokens"] is True
    read = client.get(
        info["registration_client_uri"].removeprefix("http://127.0.0.1:5000"),
        headers={"Authorization": f"Bearer {info['registration_access_token']}"},
    )
    assert read.get_json()["dpop_bound_access_tokens"] is True
    basic = basic_auth(info["client_id"], info["client_secret"])
    data = {"grant_type": "client_credentials"}
    refused = client.post("/oauth/token", data=data, headers=basic)
    assert_oauth_error(refused, "invalid_dpop_proof")
    bound = client.post(
        "/oauth/token", data=data, headers={**basic, "DPoP": proof("POST", TOKEN_URL)}
    )
    assert bound.status_code == 200 and bound.get_json()["token_type"] == "DPoP"


@pytest.mark.parametrize("app_config", [{"REGISTRATION_ENABLED": True}])
@pytest.mark.parametrize("value", ["yes", 1, [True]])
def test_dynamic_registration_refuses_a_value_that_is_not_a_boolean(client, app_config, value):
    answer = client.post("/oauth/register", json={**METADATA, "dpop_bound_access_tokens": value})
    assert_oauth_error(answer, "invalid_client_metadata")


@pytest.mark.parametrize("app_config", [{"REGISTRATION_ENABLED": True}])
def test_left_out_it_is_false_and_not_echoed(client, app_config) -> None:
    info = client.post("/oauth/register", json=METADATA).get_json()
    assert "dpop_bound_access_tokens" not in info


def test_the_console_sets_and_clears_it(app, logged_in) -> None:
    page = logged_in.get("/console/clients/new")
    assert 'name="dpop_bound_access_tokens"' in page.get_data(as_text=True)
    form = {
        "csrf_token": csrf_token(page.data),
        "name": "Console app",
        "redirect_uris": "https://app.example.com/cb",
        "scopes": ["openid"],
        "grant_types": ["authorization_code"],
        "client_type": "confidential",
        "auth_method": "client_secret_basic",
        "dpop_bound_access_tokens": "y",
    }
    created = logged_in.post("/console/clients/new", data=form)
    assert created.status_code == 200, created.data
    client_id = re.search(r"/console/clients/([A-Za-z0-9_-]+)", created.get_data(as_text=True))
    assert client_id is not None
    with app.app_context():
        row = db.session.scalar(db.select(Client).where(Client.client_id == client_id.group(1)))
        assert row.dpop_bound_access_tokens is True
    edit = logged_in.get(f"/console/clients/{client_id.group(1)}/edit")
    assert "checked" in re.search(
        r"<input[^>]*dpop_bound_access_tokens[^>]*>", edit.get_data(as_text=True)
    ).group(0)
    form = {
        k: v
        for k, v in form.items()
        if k not in ("dpop_bound_access_tokens", "client_type", "auth_method")
    }
    form["csrf_token"] = csrf_token(edit.data)
    saved = logged_in.post(f"/console/clients/{client_id.group(1)}/edit", data=form)
    assert saved.status_code in (200, 302), saved.data
    with app.app_context():
        row = db.session.scalar(db.select(Client).where(Client.client_id == client_id.group(1)))
        assert row.dpop_bound_access_tokens is False


def test_the_command_line_sets_it(app) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "clients", "create", "--name", "CLI bound", "--grant-type", "client_credentials",
            "--scope", "events:read", "--dpop-bound", "--json",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.output)["client_id"]
    with app.app_context():
        row = db.session.scalar(db.select(Client).where(Client.client_id == client_id))
        assert row.dpop_bound_access_tokens is True
