"""What strangers can write to a client's record of refused requests, and what its developer
still sees: repeats counted on one row, short sanitised free text, a cap on the rows requests
proving nothing can add, and the refusals of requests that proved who sent them kept apart.
"""

from __future__ import annotations

import html
import threading

from flask import Flask
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.services import audit, cleanup
from tests.factories import ClientInfo
from tests.helpers import authorize_url, basic_auth

STRANGERS_REQUESTS = 25  # the review's reproduction: 25 requests hid every real entry


def refusal_rows(app: Flask, client_id: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.client_id == client_id, AuditEvent.event.in_(audit.REFUSAL_EVENTS)
                )
                .order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return rows


def activity(browser, client_id: str) -> str:
    page = browser.get(f"/console/clients/{client_id}").get_data(as_text=True)
    return " ".join(html.unescape(page.split("<h2>Recent activity</h2>")[1]).split())


def section(text: str, heading: str) -> str:
    """One list of the activity: from its heading to the next one."""
    return text.split(f"<h3>{heading}</h3>")[1].split("<h3>")[0]


def a_strangers_distinct_refusal(app: Flask, client: ClientInfo, number: int) -> None:
    """A refusal no earlier one repeats: a silent request naming a parameter twice, each time
    another parameter (its name is in the error description, and so in the reason)."""
    response = app.test_client().get(
        authorize_url(client, prompt="none") + f"&Call_555-0100_{number}=a&Call_555-0100_{number}=b"
    )
    assert response.status_code == 400
    assert f"Call_555-0100_{number}" in response.get_data(as_text=True)


def test_a_stranger_repeating_a_refused_request_adds_one_row_counted(
    app, logged_in, confidential_client
):
    stranger = app.test_client()
    for number in range(STRANGERS_REQUESTS):
        response = stranger.get(
            authorize_url(confidential_client, redirect_uri=f"https://evil.example/{number}")
        )
        assert response.status_code == 400

    (row,) = refusal_rows(app, confidential_client.client_id)
    assert row.repeats == STRANGERS_REQUESTS
    assert row.actor == "anonymous"
    assert row.last_at is not None and row.last_at >= row.at
    # The row keeps the first request's text; the count says how often it came.
    assert row.detail["reason"] == "redirect_uri not registered: https://evil.example/0"
    assert f"×{STRANGERS_REQUESTS}" in activity(logged_in, confidential_client.client_id)


def test_a_refused_redirect_uri_is_kept_as_a_short_sanitised_prefix(
    app, client, confidential_client
):
    hostile = (
        "https://evil.example/\u202eYour account is locked\nCall +1 555 0100 now" + "/padding" * 300
    )
    response = client.get(authorize_url(confidential_client, redirect_uri=hostile))

    assert response.status_code == 400
    (row,) = refusal_rows(app, confidential_client.client_id)
    reason = row.detail["reason"]
    quoted = reason.removeprefix("redirect_uri not registered: ")
    assert quoted != reason
    assert len(quoted) <= audit.QUOTED_URI_LENGTH
    assert quoted.startswith("https://evil.example/?Your account is locked?Call")
    assert quoted.endswith("…")
    assert reason.isprintable()  # no newline, no bidirectional override


def test_strangers_add_a_bounded_number_of_rows_per_client_and_window(
    app, confidential_client, fake_clock
):
    """Distinct refusals (which do not collapse) beyond the cap are counted on one row."""
    beyond = 7
    for number in range(audit.ANONYMOUS_REFUSALS_PER_WINDOW + beyond):
        a_strangers_distinct_refusal(app, confidential_client, number)

    rows = refusal_rows(app, confidential_client.client_id)
    assert len(rows) == audit.ANONYMOUS_REFUSALS_PER_WINDOW + 1
    assert rows[-1].detail["reason"] == audit.NOT_ITEMISED
    assert rows[-1].repeats == beyond
    assert sum(row.repeats for row in rows) == audit.ANONYMOUS_REFUSALS_PER_WINDOW + beyond

    # A new window, a new allowance: the record keeps telling what happens.
    fake_clock.advance(audit.REFUSAL_WINDOW.total_seconds() + 1)
    a_strangers_distinct_refusal(app, confidential_client, 0)
    newest = refusal_rows(app, confidential_client.client_id)[-1]
    assert (newest.detail["reason"], newest.repeats) == (
        "'Call_555-0100_0' was sent more than once.",
        1,
    )


def test_the_developers_own_refusals_stay_visible_whatever_strangers_send(
    app, logged_in, confidential_client
):
    # Refused requests that proved who sent them: the app's own secret, a person signed in here.
    proven_token = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "never-issued", "redirect_uri": "x"},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert proven_token.status_code == 400
    logged_in.get(authorize_url(confidential_client, redirect_uri="https://typo.example/cb"))
    # Then strangers: a wrong secret, repeats, and distinct refusals past the cap.
    app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(confidential_client.client_id, "a guess"),
    )
    stranger = app.test_client()
    for number in range(STRANGERS_REQUESTS):
        stranger.get(
            authorize_url(confidential_client, redirect_uri=f"https://evil.example/{number}")
        )
    for number in range(2 * audit.ANONYMOUS_REFUSALS_PER_WINDOW):
        a_strangers_distinct_refusal(app, confidential_client, number)

    text = activity(logged_in, confidential_client.client_id)
    proven = section(text, "From your app and people signed in here")
    assert "Token request (authorization_code) refused" in proven
    assert "unknown authorization code" in proven
    assert "redirect_uri not registered: https://typo.example/cb" in proven
    assert "evil.example" not in proven and "Call_555" not in proven
    assert "wrong client secret" not in proven  # a wrong secret proves nothing
    strangers = section(text, "From anyone")
    assert "anyone can send these" in strangers
    assert audit.NOT_ITEMISED in strangers


def test_one_refusal_recorded_by_two_workers_at_once_is_counted_twice_and_never_fails(
    app, confidential_client
):
    """Each records in its own transaction; both may insert (a duplicate row), neither fails."""
    rounds = 10
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(rounds):
                start.wait(timeout=30)
                with app.app_context():
                    audit.record_refusal(
                        "token.refused",
                        client_id=confidential_client.client_id,
                        actor=audit.ANONYMOUS,
                        error="invalid_grant",
                        reason="unknown authorization code",
                    )
        except BaseException as error:  # reported to the test's thread below
            failures.append(error)
            start.abort()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    rows = refusal_rows(app, confidential_client.client_id)
    assert sum(row.repeats for row in rows) == 2 * rounds
    assert len(rows) <= rounds  # repeats are counted, not inserted (a rare duplicate aside)


def test_cleanup_removes_counted_refusals_past_the_retention(app, confidential_client, fake_clock):
    stranger = app.test_client()
    for _ in range(3):
        stranger.get(authorize_url(confidential_client, redirect_uri="https://evil.example/"))
    fake_clock.advance(int(app.config["AUDIT_RETENTION_DAYS"]) * 86_400 + 1)

    with app.app_context():
        removed = cleanup.cleanup()

    assert removed.counts["audit_events"] >= 1
    assert refusal_rows(app, confidential_client.client_id) == []
