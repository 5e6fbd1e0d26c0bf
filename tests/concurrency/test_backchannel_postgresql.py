"""Back-channel logout tokens with several deliverers on one PostgreSQL outbox at once (workers
and nodes taking turns): each ended session's client is told exactly once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from authserver import mail
from authserver.extensions import db
from authserver.services import backchannel, clients, keys, outbox, sessions, tokens, users
from tests.hostile_server import Answer, HostileServer, running_server

pytestmark = pytest.mark.postgresql

PEOPLE = 12
DELIVERERS = 4
PATH = "/backchannel-logout"


@pytest.fixture
def receiver() -> Iterator[HostileServer]:
    server_iter = running_server()
    server = next(server_iter)
    server.answers[PATH] = Answer(200, b"", headers={})
    yield server
    next(server_iter, None)


def test_simultaneous_deliverers_tell_each_session_once(
    pg_app: Flask, receiver: HostileServer, signing_pem: tuple[str, str]
) -> None:
    pg_app.config["OUTBOUND_ALLOW_LOOPBACK"] = True
    sids = []
    with pg_app.app_context():
        kid, pem = signing_pem
        db.session.add(keys.new_signing_key(kid, pem))
        client, _ = clients.create_client(
            name="Told App",
            redirect_uris=["https://told.example.com/cb"],
            scope="openid",
            backchannel_logout_uri=receiver.url(PATH),
        )
        for number in range(PEOPLE):
            person = users.create_user(f"p{number}@example.com", "a long enough password")
            login = sessions.start_session(person, None, None)
            tokens.start_family(client, person, "openid", session_id=login.sid)
            sids.append(login.sid)
        db.session.commit()
        for sid in sids:
            sessions.end_session(sid)
        db.session.commit()
        published = json.loads(keys.jwks().body)
    barrier = threading.Barrier(DELIVERERS)

    def deliverer(name: str) -> int:
        with pg_app.app_context():
            barrier.wait(timeout=10)
            return outbox.deliver_due(mail.DELIVERERS, worker=name).sent[backchannel.KIND]

    with ThreadPoolExecutor(max_workers=DELIVERERS) as pool:
        sent = list(pool.map(deliverer, [f"worker-{n}" for n in range(DELIVERERS)]))
    assert sum(sent) == PEOPLE
    key_set = KeySet.import_key_set(published)
    told = Counter(
        jwt.decode(parse_qs(body.decode())["logout_token"][0], key_set).claims["sid"]
        for _, _, body in receiver.posts
    )
    assert set(told) == set(sids) and set(told.values()) == {1}
