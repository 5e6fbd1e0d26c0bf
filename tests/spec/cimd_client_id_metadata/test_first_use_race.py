"""Several workers meeting one new metadata document at once make one client, not an error:
the row's insert loses gracefully to a concurrent one (a savepoint and a unique client_id)."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AuditEvent, Client
from tests.helpers import authorize_url, pkce_pair
from tests.hostile_server import Answer, HostileServer

from .conftest import DocumentClient


def test_concurrent_first_uses_make_one_client(
    app: Flask, agent: DocumentClient, documents: HostileServer
):
    # Slow enough that every request fetches before any has stored the row.
    answer = documents.answers["/agent/client.json"]
    documents.answers["/agent/client.json"] = Answer(
        body=answer.body, headers=answer.headers, delay=0.3
    )
    _, challenge = pkce_pair()
    url = authorize_url(agent, code_challenge=challenge, code_challenge_method="S256")
    statuses: list[int] = []
    start = threading.Barrier(4)

    def first_use() -> None:
        browser = app.test_client()
        start.wait()
        statuses.append(browser.get(url).status_code)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302] * 4  # each sent to the login page: the client was found
    assert documents.hits("/agent/client.json") >= 2  # they did overlap
    with app.app_context():
        rows = db.session.scalar(
            select(func.count()).select_from(Client).where(Client.client_id == agent.client_id)
        )
        assert rows == 1
        created = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "client.created", AuditEvent.client_id == agent.client_id)
        )
        assert created == 1
