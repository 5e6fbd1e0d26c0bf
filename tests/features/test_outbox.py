"""The outbox: mail queued with its cause, sent in the background by a real SMTP conversation,
delayed (never lost) while the SMTP server is down, retried with backoff, given up at last."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from authserver import mail, scheduled
from authserver.extensions import db
from authserver.models import OutboxMessage
from authserver.services import checks, outbox
from tests.mail_server import html_of, links_in, smtp_server, text_of

LINK = "http://127.0.0.1:5000/signup/verify?token=secret-link-token"


def queue(app: Flask, to: str = "ada@example.com", commit: bool = True) -> int:
    with app.app_context():
        message = outbox.queue_mail(to, "verify_email", link=LINK, name="Ada")
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
        return message.id


def row(app: Flask, message_id: int) -> OutboxMessage:
    with app.app_context():
        found = db.session.get(OutboxMessage, message_id)
        assert found is not None
        db.session.expunge(found)
        return found


def deliver(app: Flask) -> outbox.DeliveryRun:
    with app.app_context():
        return outbox.deliver_due(mail.DELIVERERS)


def test_a_queued_mail_is_sent_once_with_text_and_html(app: Flask) -> None:
    with smtp_server() as (url, inbox):
        app.config["SMTP_URL"] = url
        message_id = queue(app)
        assert inbox.messages == []  # queued, not sent by the request
        assert sum(deliver(app).sent.values()) == 1
        assert sum(deliver(app).sent.values()) == 0  # nothing twice
    [sent] = inbox.messages
    assert sent["To"] == "ada@example.com"
    assert sent["From"] == "Authserver <no-reply@localhost>"
    assert sent["Subject"] == "Confirm your email address"
    assert links_in(sent) == [LINK]  # exactly one link, the one to act on
    assert f'href="{LINK}"' in html_of(sent)
    assert "Hello Ada" in text_of(sent)
    done = row(app, message_id)
    assert done.sent_at is not None and done.attempts == 0
    assert done.payload is None  # the link does not stay in the database once sent


def test_html_part_escapes_what_people_typed(app: Flask) -> None:
    with smtp_server() as (url, inbox):
        app.config["SMTP_URL"] = url
        with app.app_context():
            outbox.queue_mail("x@example.com", "verify_email", link=LINK, name="<b>Eve</b>")
            db.session.commit()
        deliver(app)
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html_of(inbox.messages[0])


def test_the_payload_is_sealed_in_the_database(app: Flask) -> None:
    message_id = queue(app)
    stored = row(app, message_id).payload
    assert stored is not None and "secret-link-token" not in stored
    with app.app_context():
        assert outbox.payload_of(db.session.get_one(OutboxMessage, message_id))["context"] == {
            "link": LINK,
            "name": "Ada",
        }


def test_a_rolled_back_cause_sends_nothing(app: Flask) -> None:
    queue(app, commit=False)
    with app.app_context():
        assert db.session.scalars(select(OutboxMessage)).all() == []


def test_smtp_down_delays_the_mail_then_it_goes(app: Flask, fake_clock, caplog) -> None:
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"  # nobody listens
    message_id = queue(app)
    with caplog.at_level(logging.WARNING, logger="authserver.outbox"):
        run = deliver(app)
    assert run.failed["mail"] == 1
    failed = row(app, message_id)
    assert failed.attempts == 1 and failed.sent_at is None and failed.gave_up_at is None
    assert failed.last_error and "ConnectionRefusedError" in failed.last_error
    # Backoff: 30 s doubled per failure, times a jitter in [0.5, 1.0].
    wait = failed.next_attempt_at - fake_clock.current
    assert timedelta(seconds=15) <= wait <= timedelta(seconds=30)
    assert "secret-link-token" not in caplog.text
    with smtp_server() as (url, inbox):
        app.config["SMTP_URL"] = url
        assert deliver(app).total == 0  # not due yet
        fake_clock.advance(wait.total_seconds())
        assert deliver(app).sent["mail"] == 1
    assert len(inbox.messages) == 1
    assert row(app, message_id).sent_at is not None


def test_backoff_doubles_and_is_capped(app: Flask) -> None:
    config = {"OUTBOX_FIRST_BACKOFF": 30, "OUTBOX_MAX_BACKOFF": 3600}
    for attempts, full in ((1, 30), (2, 60), (3, 120), (10, 3600), (50, 3600)):
        wait = outbox.backoff(attempts, config).total_seconds()
        assert full * 0.5 <= wait <= full


def test_a_message_is_given_up_past_the_horizon(app: Flask, fake_clock) -> None:
    app.config.update(OUTBOX_GIVE_UP_AFTER=120, OUTBOX_FIRST_BACKOFF=60)
    message_id = queue(app)
    deliver(app)  # fails: next try within 30-60 s, inside the horizon
    assert row(app, message_id).gave_up_at is None
    fake_clock.advance(61)
    deliver(app)  # fails again: next try 60-120 s later would pass 120 s
    fake_clock.advance(121)
    gone = row(app, message_id)
    assert gone.gave_up_at is not None and gone.payload is None and gone.attempts == 2
    assert deliver(app).total == 0
    with app.app_context():
        state = outbox.state()
        assert (state.queued, state.given_up) == (0, 1)
        [finding] = [f for f in checks.run_checks(app.config) if f.item == "outbox"]
        assert finding.status == checks.WARN and "1 given up" in finding.detail


def test_a_claimed_message_is_not_sent_by_another_until_its_lease_lapses(
    app: Flask, fake_clock
) -> None:
    message_id = queue(app)
    with app.app_context():
        assert outbox.claim_due("worker-a") == [message_id]
        db.session.commit()
        assert outbox.claim_due("worker-b") == []
        fake_clock.advance(outbox.LEASE.total_seconds() + 1)  # worker-a died mid-send
        assert outbox.claim_due("worker-b") == [message_id]
        db.session.commit()
        # worker-a comes back late: its outcome no longer counts
        assert not outbox.record_sent(message_id, "worker-a")
        assert outbox.record_sent(message_id, "worker-b")
        db.session.commit()


def test_credentials_in_the_url_log_in_and_never_show(app: Flask, caplog) -> None:
    with smtp_server(credentials=("mailer", "p@ss word")) as (url, inbox):
        app.config["SMTP_URL"] = url.replace("smtp://", "smtp://mailer:p%40ss%20word@")
        queue(app)
        assert deliver(app).sent["mail"] == 1
        app.config["SMTP_URL"] = url.replace("smtp://", "smtp://mailer:wrong@")
        app.config["SMTP_TIMEOUT"] = 2  # aiosmtpd answers a refused login slowly
        message_id = queue(app)
        with caplog.at_level(logging.INFO):
            assert deliver(app).failed["mail"] == 1
            with app.app_context():
                [finding] = [f for f in checks.run_checks(app.config) if f.item == "outbox"]
    assert len(inbox.messages) == 1
    assert row(app, message_id).last_error  # refused: retried later, with the reason kept
    assert "wrong" not in caplog.text and "wrong" not in finding.detail
    assert repr(mail.parse_smtp_url("smtp://u:hunter2@h:1")) == "SmtpServer('smtp://u@h:1')"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("smtp", "mail.example.com", 25, None, None)),
        (
            "smtps://u%40x:p%3A@mail.example.com:2465",
            ("smtps", "mail.example.com", 2465, "u@x", "p:"),
        ),
    ],
)
def test_smtp_urls(url: str, expected: tuple) -> None:
    server = mail.parse_smtp_url(url)
    assert (server.scheme, server.host, server.port, server.username, server.password) == expected


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "mail.example.com:25"])
def test_bad_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="AUTHSERVER_SMTP_URL"):
        mail.parse_smtp_url(url)


def test_the_server_thread_sends_within_seconds(app: Flask) -> None:
    app.config["OUTBOX_INTERVAL"] = 0.05
    scheduled.init_outbox_schedule(app)
    with smtp_server() as (url, inbox):
        app.config["SMTP_URL"] = url
        queue(app)
        app.test_client().get("/healthz")  # the first request starts this process's thread
        try:
            assert len(inbox.wait_for(1, timeout=10)) == 1
        finally:
            scheduled.stop(app)


def test_check_reports_an_empty_outbox(app: Flask) -> None:
    with app.app_context():
        [finding] = [f for f in checks.run_checks(app.config) if f.item == "outbox"]
    assert finding.status == checks.PASS
    assert finding.detail.startswith("0 queued, 0 failing") and "127.0.0.1:9" in finding.detail
