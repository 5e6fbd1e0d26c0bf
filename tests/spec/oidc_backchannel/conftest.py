"""A relying party with a back-channel logout URI on a local receiver whose answers a test
chooses (tests/hostile_server.py), and helpers to sign in, log out and deliver."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from authserver import mail
from authserver.extensions import db
from authserver.models import OutboxMessage
from authserver.services import backchannel, outbox
from authserver.services.clients import create_client
from tests import factories
from tests.factories import ClientInfo, UserInfo
from tests.helpers import exchange_code, get_code, login
from tests.hostile_server import Answer, HostileServer, running_server

RECEIVER_PATH = "/backchannel-logout"


@pytest.fixture
def app_config() -> dict:
    # The receiver listens on 127.0.0.1 over plain http: allowed for tests only.
    return {"OUTBOUND_ALLOW_LOOPBACK": True}


@pytest.fixture
def receiver() -> Iterator[HostileServer]:
    server_iter = running_server()
    server = next(server_iter)
    server.answers[RECEIVER_PATH] = Answer(200, b"", headers={})
    yield server
    next(server_iter, None)


def make_rp(
    app: Flask,
    uri: str | None,
    name: str = "Told App",
    session_required: bool = False,
) -> ClientInfo:
    with app.app_context():
        client, secret = create_client(
            name=name,
            redirect_uris=[factories.REDIRECT_URI],
            scope=factories.ALL_SCOPES,
            backchannel_logout_uri=uri,
            backchannel_logout_session_required=session_required,
        )
        db.session.commit()
        return ClientInfo(client.id, client.client_id, secret, factories.REDIRECT_URI, "")


@pytest.fixture
def rp(app: Flask, receiver: HostileServer) -> ClientInfo:
    """A relying party told of logouts at the receiver."""
    return make_rp(app, receiver.url(RECEIVER_PATH))


def browser_for(app: Flask, person: UserInfo) -> FlaskClient:
    browser = app.test_client()
    assert login(browser, person.email, person.password).status_code == 302
    return browser


def sign_in(browser: FlaskClient, app_client: ClientInfo) -> dict:
    """The RP's sign-in (code flow with openid); its token response."""
    code, _ = get_code(browser, app_client, scope="openid profile offline_access")
    response = exchange_code(browser, app_client, code)
    assert response.status_code == 200, response.data
    return response.get_json()


def messages(app: Flask) -> list[tuple[str, dict, OutboxMessage]]:
    """The queued back-channel logouts: (recipient, payload, row)."""
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == backchannel.KIND)
            .order_by(OutboxMessage.id)
        ).all()
        found = [
            (row.recipient, outbox.payload_of(row) if row.payload else {}, row) for row in rows
        ]
        for row in rows:
            db.session.expunge(row)
        return found


def deliver(app: Flask) -> outbox.DeliveryRun:
    with app.app_context():
        return outbox.deliver_due(mail.DELIVERERS)


def posted_tokens(server: HostileServer) -> list[str]:
    """The logout_token of each POST the receiver got (form-encoded, §2.5)."""
    tokens = []
    for path, content_type, body in server.posts:
        assert path == RECEIVER_PATH
        assert content_type == "application/x-www-form-urlencoded"
        form = parse_qs(body.decode())
        assert list(form) == ["logout_token"], form
        tokens.append(form["logout_token"][0])
    return tokens
