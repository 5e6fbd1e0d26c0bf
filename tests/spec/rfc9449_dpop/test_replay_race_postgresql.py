"""One DPoP proof sent by several requests at once is honoured once (RFC 9449 §11.1), on
PostgreSQL where requests really run in parallel: at the token endpoint (the shared
``claim_window`` row) and at the resource API (its ``dpop_proofs`` table)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import factories
from tests.helpers import basic_auth

from .proofs import proof

pytestmark = pytest.mark.postgresql
TOKEN_URL = "http://127.0.0.1:5000/oauth/token"


def test_one_proof_sent_at_once_issues_one_token(pg_app) -> None:
    with pg_app.app_context():
        service = factories.make_service_client()
    shared = proof("POST", TOKEN_URL)
    barrier = threading.Barrier(4)

    def send(_: int) -> int:
        http = pg_app.test_client()
        barrier.wait()
        headers = {**basic_auth(service.client_id, service.secret), "DPoP": shared}
        return http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
        ).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(send, range(4)))
    assert statuses == [200, 400, 400, 400], statuses
