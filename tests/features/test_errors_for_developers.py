"""Refusals that name the fix for the app's developer (issue 19, item 11): the page for an
unregistered redirect or post-logout URI shows what was sent (as text, never as a link) and, to
the app's owner only, what is registered; an unregistered post_logout_redirect_uri is on the
app's record; and no activity line reads "invalid_grant invalid_grant"."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent, Client, User
from authserver.oauth2.errors import refusal_reason
from authserver.services import audit
from tests import factories
from tests.helpers import authorize_url, basic_auth, exchange_code, get_code, login

from .test_logout import BYE, browser_for, end_session, is_logged_in, make_rp, sign_in

HOSTILE = 'https://evil.example/"><script>alert(1)</script>'


def activity(browser, client_id: str) -> str:
    page = browser.get(f"/console/clients/{client_id}").get_data(as_text=True)
    return " ".join(html.unescape(page.split("<h2>Recent activity</h2>")[1]).split())


def developer_section(page: str) -> str:
    return page.split('<section class="developer-details"')[1].split("</section>")[0]


def refusals(app, client_id: str, event: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.client_id == client_id, AuditEvent.event == event
                )
            )
        )
        db.session.expunge_all()
        return rows


# --- the redirect_uri mismatch page ------------------------------------------------------------


def test_redirect_mismatch_page_shows_the_sent_uri_as_text_and_the_registered_ones_to_the_owner(
    app, logged_in, user
):
    with app.app_context():
        mine = factories.make_client(owner_email=user.email)
    response = logged_in.get(authorize_url(mine, redirect_uri=HOSTILE))
    assert response.status_code == 400 and "Location" not in response.headers
    page = response.get_data(as_text=True)
    section = developer_section(page)
    assert "<script>" not in page
    assert f'<code class="sent-uri">{html.escape(HOSTILE).replace("&quot;", "&#34;")}</code>' in (
        section
    )
    assert all(not href.startswith("https://evil") for href in re.findall(r'href="([^"]*)"', page))
    assert f"<li><code>{factories.REDIRECT_URI}</code></li>" in section
    assert f'href="/console/clients/{mine.client_id}"' in section


def test_redirect_mismatch_page_hides_the_registered_uris_from_anyone_else(app, client, user):
    with app.app_context():
        someone_elses = factories.make_client(
            owner_email=user.email, redirect_uris=["https://staging.internal.example/cb"]
        )
        stranger = factories.make_user(email="stranger@example.com")
    login(client, stranger.email, stranger.password)
    for browser in (client, app.test_client()):  # signed in as someone else; not signed in
        page = browser.get(
            authorize_url(someone_elses, redirect_uri="https://typo.example/cb")
        ).get_data(as_text=True)
        section = developer_section(page)
        assert "https://typo.example/cb" in section
        assert "staging.internal.example" not in page
        assert "registered-uris" not in section


# --- an unregistered post_logout_redirect_uri --------------------------------------------------


def test_unregistered_post_logout_uri_is_explained_and_on_the_app_s_record(app, user):
    with app.app_context():
        owner = factories.make_user(email="owner@example.com")
    rp = make_rp(app)
    with app.app_context():
        # The console shows a client to its owner; this one's owner is ``owner``.
        client_row = db.session.get(Client, rp.id)
        client_row.owner_id = db.session.get(User, owner.id).id
        db.session.commit()
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    response = end_session(
        browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=HOSTILE, state="s"
    )
    # The person asked to log out, so they are; nobody is sent to the unregistered address.
    assert response.status_code == 200 and "Location" not in response.headers
    assert not is_logged_in(browser)
    page = response.get_data(as_text=True)
    assert "has not" in page and "registered" in page
    section = developer_section(page)
    assert "<script>" not in page
    assert "post_logout_redirect_uri" in section
    assert all(not href.startswith("https://evil") for href in re.findall(r'href="([^"]*)"', page))
    assert BYE not in page  # the person is not the app's owner

    [row] = refusals(app, rp.client_id, "logout.refused")
    assert row.detail["reason"].startswith("post_logout_redirect_uri not registered: https://evil")
    assert len(row.detail["reason"]) <= audit.REASON_LENGTH
    owners_browser = browser_for(app, owner)
    assert (
        "Logout request refused: <strong>post_logout_redirect_uri not registered: https://evil"
        in activity(owners_browser, rp.client_id)
    )


def test_registered_post_logout_uri_is_not_a_refusal(app, user):
    rp = make_rp(app)
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    response = end_session(browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE)
    assert response.status_code == 302 and response.headers["Location"] == BYE
    assert refusals(app, rp.client_id, "logout.refused") == []


def test_logout_mismatch_without_a_session_is_explained_too(app):
    rp = make_rp(app)
    page = app.test_client().get(
        "/oauth/logout?"
        + urlencode({"client_id": rp.client_id, "post_logout_redirect_uri": HOSTILE})
    )
    assert page.status_code == 200
    assert "post_logout_redirect_uri" in developer_section(page.get_data(as_text=True))
    assert len(refusals(app, rp.client_id, "logout.refused")) == 1


# --- activity lines that say what happened ------------------------------------------------------


def test_an_unknown_refresh_token_is_named_not_invalid_grant_twice(
    app, logged_in, confidential_client
):
    response = logged_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "never-issued"},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert "not valid" in response.get_json()["error_description"]
    line = activity(logged_in, confidential_client.client_id)
    assert "refused: <strong>unknown refresh token: never issued" in line
    assert "invalid_grant invalid_grant" not in line


def test_a_bare_error_gets_a_reason_in_words():
    assert refusal_reason(None, "invalid_grant", None) != "invalid_grant"
    assert "not valid" in refusal_reason(None, "invalid_grant", None)


def test_the_console_never_repeats_the_error_code_as_its_reason(
    app, logged_in, confidential_client
):
    """Rows stored before the reasons were worded may hold the bare code as their reason."""
    with app.app_context():
        audit.record_refusal(
            "token.refused",
            client_id=confidential_client.client_id,
            error="invalid_grant",
            reason="invalid_grant",
            actor=f"client:{confidential_client.client_id}",
        )
    assert "invalid_grant invalid_grant" not in activity(logged_in, confidential_client.client_id)


def test_a_disabled_client_s_code_blames_the_operator_not_the_person(app, user, logged_in):
    with app.app_context():
        mine = factories.make_client(owner_email=user.email)
    code, _ = get_code(logged_in, mine, scope="openid")
    with app.app_context():
        db.session.get(Client, mine.id).disabled_at = db.func.now()
        db.session.commit()
    response = exchange_code(app.test_client(), mine, code)
    # Whether the disabled client is still known to this worker (its cached row) or not, the
    # answer never blames the person.
    assert response.get_json()["error"] in ("invalid_grant", "invalid_client")
    reasons = [row.detail["reason"] for row in refusals(app, mine.client_id, "token.refused")]
    assert reasons, "the refusal is on the record"
    assert not [r for r in reasons if "person" in r], reasons
    if response.get_json()["error"] == "invalid_grant":
        assert reasons == ["authorization code void because the operator disabled this client"]
