"""Several deliverers on one PostgreSQL outbox at once (workers and nodes taking turns): each
mail reaches the SMTP server exactly once, and the work is shared."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select

from authserver import mail
from authserver.extensions import db
from authserver.models import OutboxMessage
from authserver.services import outbox
from tests.mail_server import smtp_server

pytestmark = pytest.mark.postgresql

MAILS = 40
DELIVERERS = 4


def test_simultaneous_deliverers_send_each_mail_once(pg_app: Flask) -> None:
    with pg_app.app_context():
        for number in range(MAILS):
            outbox.queue_mail(
                f"person{number}@example.com", "verify_email", link=f"http://x/{number}"
            )
        db.session.commit()
    barrier = threading.Barrier(DELIVERERS)

    def deliverer(name: str) -> int:
        with pg_app.app_context():
            barrier.wait(timeout=10)
            return sum(outbox.deliver_due(mail.DELIVERERS, worker=name).sent.values())

    with smtp_server() as (url, inbox):
        pg_app.config["SMTP_URL"] = url
        with ThreadPoolExecutor(max_workers=DELIVERERS) as pool:
            sent = list(pool.map(deliverer, [f"worker-{n}" for n in range(DELIVERERS)]))
        inbox.wait_for(MAILS)
    assert sum(sent) == MAILS
    received = Counter(message["To"] for message in inbox.messages)
    assert len(received) == MAILS and set(received.values()) == {1}
    with pg_app.app_context():
        unsent = db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
    assert unsent == 0


def test_skip_locked_passes_over_rows_another_deliverer_holds(pg_app: Flask) -> None:
    with pg_app.app_context():
        first = outbox.queue_mail("a@example.com", "verify_email", link="http://x/a").id
        second = outbox.queue_mail("b@example.com", "verify_email", link="http://x/b").id
        db.session.commit()
        # Worker A has selected (and locked) the first row but not committed its claim yet.
        assert outbox.claim_due("worker-a", limit=1) == [first]
        claimed_by_b: list[int] = []

        def worker_b() -> None:
            with pg_app.app_context():
                claimed_by_b.extend(outbox.claim_due("worker-b"))
                db.session.commit()

        thread = threading.Thread(target=worker_b)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "worker B waited on A's lock instead of skipping it"
        assert claimed_by_b == [second]
        db.session.commit()
