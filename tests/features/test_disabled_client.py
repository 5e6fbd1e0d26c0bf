"""A disabled client is told it is disabled, where that tells nobody else anything (issue 19,
item 9): its owner's console page and ``clients show`` say so; at the machine endpoints the
answer stays ``invalid_client``, and its description says "disabled" only to a request whose
client secret was right. Anyone without the secret gets the same answer as for an unknown
client_id or a wrong secret.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent, Client
from authserver.oauth2.errors import CLIENT_DISABLED
from authserver.services import operator
from tests import factories
from tests.helpers import basic_auth

ENDPOINTS = {
    "/oauth/token": {"grant_type": "client_credentials"},
    "/oauth/introspect": {"token": "anything"},
    "/oauth/revoke": {"token": "anything"},
}


def _disable(app, client_id: str) -> None:
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        operator.disable_client(client)
        db.session.commit()


@pytest.fixture
def disabled(app, user) -> factories.ClientInfo:
    with app.app_context():
        made = factories.make_client(
            owner_email=user.email, grant_types=["authorization_code", "client_credentials"]
        )
    _disable(app, made.client_id)
    return made


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_the_right_secret_learns_the_client_is_disabled(app, disabled, endpoint):
    response = app.test_client().post(
        endpoint, data=ENDPOINTS[endpoint], headers=basic_auth(disabled.client_id, disabled.secret)
    )
    assert response.status_code == 401
    body = response.get_json()
    assert body == {"error": "invalid_client", "error_description": CLIENT_DISABLED}
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Basic realm=") and "disabled" in challenge


def test_without_the_secret_a_disabled_client_looks_like_any_failed_authentication(app, disabled):
    http = app.test_client()
    data = ENDPOINTS["/oauth/token"]
    wrong = http.post("/oauth/token", data=data, headers=basic_auth(disabled.client_id, "guess"))
    unknown = http.post("/oauth/token", data=data, headers=basic_auth("no-such-client", "guess"))
    empty = http.post("/oauth/token", data=data, headers=basic_auth(disabled.client_id, ""))
    for response in (wrong, unknown, empty):
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_client"
        assert "disabled" not in response.get_json()["error_description"]
    # As before this change: a disabled client is, to a guesser, an unknown one.
    assert wrong.get_json() == unknown.get_json()
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_the_secret_in_the_body_of_a_basic_client_does_not_count(app, disabled):
    """The client registered client_secret_basic: the secret sent any other way proves nothing
    more than it would for an enabled client (which Authlib would refuse too)."""
    response = app.test_client().post(
        "/oauth/token",
        data={
            **ENDPOINTS["/oauth/token"],
            "client_id": disabled.client_id,
            "client_secret": disabled.secret,
        },
    )
    assert response.get_json()["error"] == "invalid_client"
    assert "disabled" not in response.get_json()["error_description"]


def test_a_disabled_public_client_is_never_told(app, user):
    """Nothing a public client sends proves it is that client."""
    with app.app_context():
        public = factories.make_client(owner_email=user.email, public=True)
    _disable(app, public.client_id)
    response = app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": public.client_id,
            "redirect_uri": public.redirect_uri,
            "code_verifier": "v" * 43,
        },
    )
    assert response.get_json()["error"] == "invalid_client"
    assert "disabled" not in response.get_json()["error_description"]


def test_enabled_again_the_same_secret_works(app, disabled):
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.client_id == disabled.client_id))
        operator.enable_client(client)
        db.session.commit()
    response = app.test_client().post(
        "/oauth/token",
        data=ENDPOINTS["/oauth/token"],
        headers=basic_auth(disabled.client_id, disabled.secret),
    )
    assert response.status_code == 200, response.get_json()


def test_the_refusal_is_on_the_client_s_record_as_disabled(app, disabled):
    app.test_client().post(
        "/oauth/token",
        data=ENDPOINTS["/oauth/token"],
        headers=basic_auth(disabled.client_id, disabled.secret),
    )
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "token.refused")
        ).all()
        reasons = [row.detail.get("reason") for row in rows if row.client_id == disabled.client_id]
    assert reasons == ["client disabled by the operator"]


def test_the_owner_s_console_says_the_app_is_disabled(app, logged_in, disabled):
    page = logged_in.get(f"/console/clients/{disabled.client_id}").get_data(as_text=True)
    assert 'class="alert client-disabled"' in page and "disabled</strong> by the operator" in page
    listing = logged_in.get("/console/").get_data(as_text=True)
    assert "(disabled)" in listing


def test_an_enabled_app_s_console_page_says_nothing_of_it(app, logged_in, confidential_client):
    page = logged_in.get(f"/console/clients/{confidential_client.client_id}")
    assert "client-disabled" not in page.get_data(as_text=True)
    assert "(disabled)" not in logged_in.get("/console/").get_data(as_text=True)


def test_clients_show_says_the_client_is_disabled_and_since_when(app, disabled):
    result = app.test_cli_runner().invoke(args=["clients", "show", disabled.client_id])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "disabled: True" in lines
    assert any(line.startswith("disabled_at: 20") for line in lines), lines
