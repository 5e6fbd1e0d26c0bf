"""The dashboard: profile, calendar from the resource API, and what the person did not allow."""

from __future__ import annotations

import base64
import json
import re

from sqlalchemy import select

from examples.demo_client.models import SignIn, db
from examples.demo_client.views import how_signed_in
from tests.demo_client.conftest import form_token, sign_in
from tests.helpers import csrf_token

ALL = ["openid", "profile", "email", "offline_access", "events:read", "events:write"]
CANNOT_WRITE = "You did not allow this app to change your calendar."
CANNOT_READ = "You did not allow this app to see your calendar."


def _add(browser, title: str = "Dentist", **fields: str):
    data = {
        "csrf_token": form_token(browser),
        "title": title,
        "starts_at": "2026-03-02T09:00",
        "ends_at": "2026-03-02T10:00",
        "description": "",
        **fields,
    }
    return browser.post("/events", data=data)


def test_adding_and_deleting_an_event(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser)
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "Your calendar is empty." in page
    assert 'action="/events"' in page
    assert CANNOT_WRITE not in page and CANNOT_READ not in page

    added = _add(browser, "Dentist", description="Bring the form")
    assert added.status_code == 302, added.data
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "Added “Dentist” to your calendar." in page
    assert "<h3>Dentist</h3>" in page and "Bring the form" in page
    assert "2026-03-02 09:00:00 UTC" in page
    [created] = [sent for sent in demo.api_transport.sent if sent.method == "POST"]
    assert created.headers["Authorization"].startswith("Bearer ")

    [event_id] = re.findall(r'action="/events/(\d+)/delete"', page)
    deleted = browser.post(f"/events/{event_id}/delete", data={"csrf_token": csrf_token(page)})
    assert deleted.status_code == 302
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "The event was deleted." in page
    assert "Your calendar is empty." in page


def test_forms_without_a_csrf_token_are_refused(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser)
    refused = browser.post(
        "/events",
        data={"title": "x", "starts_at": "2026-03-02T09:00", "ends_at": "2026-03-02T10:00"},
    )
    assert refused.status_code == 400
    assert browser.post("/logout").status_code == 400
    assert browser.post("/login").status_code == 400
    assert not [sent for sent in demo.api_transport.sent if sent.method == "POST"]


def test_an_invalid_event_is_explained_and_not_sent(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser)
    _add(browser, "Backwards", starts_at="2026-03-02T10:00", ends_at="2026-03-02T09:00")
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "The end must come after the start." in page
    assert not [sent for sent in demo.api_transport.sent if sent.method == "POST"]


def test_without_events_write_there_is_no_add_form_and_a_plain_sentence(demo, server_browser):
    browser = demo.browser()
    granted = [scope for scope in ALL if scope != "events:write"]
    sign_in(browser, server_browser, scopes=granted)
    page = browser.get("/dashboard").get_data(as_text=True)
    assert CANNOT_WRITE in page
    assert 'action="/events"' not in page
    assert "Your calendar is empty." in page  # reading was allowed

    # Posting anyway is answered with the same sentence, and nothing reaches the API.
    _add(browser)
    assert CANNOT_WRITE in browser.get("/dashboard").get_data(as_text=True)
    assert not [sent for sent in demo.api_transport.sent if sent.method == "POST"]


def test_without_events_read_the_calendar_is_not_asked_for(demo, server_browser):
    browser = demo.browser()
    granted = ["openid", "profile", "email", "offline_access"]
    sign_in(browser, server_browser, scopes=granted)
    page = browser.get("/dashboard").get_data(as_text=True)
    assert CANNOT_READ in page and CANNOT_WRITE in page
    assert not demo.api_transport.calls_to("/api/events")


def test_insufficient_scope_from_the_api_is_told_plainly(demo, server_browser):
    """If the API says 403 insufficient_scope, the dashboard says so, whatever we believed."""
    browser = demo.browser()
    granted = [scope for scope in ALL if scope not in ("events:read", "events:write")]
    sign_in(browser, server_browser, scopes=granted)
    with demo.app.app_context():
        row = db.session.scalar(select(SignIn))
        row.scope += " events:read events:write"  # a stale belief about what was granted
        db.session.commit()

    page = browser.get("/dashboard").get_data(as_text=True)
    assert len(demo.api_transport.calls_to("/api/events")) == 1
    assert CANNOT_READ in page

    _add(browser)
    assert CANNOT_WRITE in browser.get("/dashboard").get_data(as_text=True)


def test_the_dashboard_needs_a_sign_in(demo):
    browser = demo.browser()
    response = browser.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Sign in to see your dashboard." in browser.get("/").get_data(as_text=True)


def test_the_dashboard_says_how_the_person_signed_in(demo, server_browser):
    """The ID token's amr and acr (RFC 8176), as the demo app reads them."""
    browser = demo.browser()
    sign_in(browser, server_browser)
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "You signed in at Authserver with a password." in page
    assert "<code>amr</code> pwd" in page and "urn:authserver:acr:pwd" in page
    assert "two factors" not in page


def test_two_factors_are_named_as_such():
    claims = {"amr": ["pwd", "otp", "mfa"], "acr": "urn:authserver:acr:mfa"}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    shown = how_signed_in(f"e30.{body}.sig")
    assert shown is not None
    assert shown["words"] == ["a password", "a one-time code"] and shown["two_factors"]
    assert how_signed_in("not a token") is None and how_signed_in(None) is None
