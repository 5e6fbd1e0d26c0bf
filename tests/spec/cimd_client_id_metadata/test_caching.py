"""A metadata document is kept as long as its HTTP caching headers say (RFC 9111 §4.2.1:
``Cache-Control: max-age`` first, else ``Expires`` against ``Date``), within a floor and a
ceiling, in the database (every worker and node sees one copy), and fetched again after."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from authserver import policy
from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.services import clients
from tests.helpers import authorize_url, pkce_pair
from tests.hostile_server import Answer, HostileServer

from .conftest import DocumentClient, document

PATH = "/cached/client.json"
REDIRECT = "https://cached.example/cb"


def _open(browser: FlaskClient, url: str):
    _, challenge = pkce_pair()
    return browser.get(
        authorize_url(
            DocumentClient(url, REDIRECT), code_challenge=challenge, code_challenge_method="S256"
        )
    )


def _serve(documents: HostileServer, headers: dict[str, str], **fields: object) -> str:
    url = documents.url(PATH)
    documents.answers[PATH] = Answer(
        body=json.dumps(document(url, REDIRECT, **fields)).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    return url


@pytest.mark.parametrize(
    "headers, kept",
    [
        ({"Cache-Control": "public, max-age=600"}, 600),
        ({"Cache-Control": "max-age=5"}, policy.METADATA_CACHE_MIN),  # the floor
        ({"Cache-Control": "no-store"}, policy.METADATA_CACHE_MIN),
        ({"Cache-Control": "max-age=99999999"}, policy.METADATA_CACHE_MAX),  # the ceiling
        ({}, policy.METADATA_CACHE_DEFAULT),
        ({"Expires": "not a date"}, policy.METADATA_CACHE_MIN),  # already expired
    ],
)
def test_kept_for_what_the_headers_say_within_bounds(
    headers: dict[str, str],
    kept: int,
    logged_in: FlaskClient,
    documents: HostileServer,
    fake_clock,
    app: Flask,
):
    url = _serve(documents, headers)
    assert _open(logged_in, url).status_code == 200
    with app.app_context():
        row = clients.find_client(url)
        assert row is not None
        assert row.metadata_expires_at - row.metadata_fetched_at == timedelta(seconds=kept)
    if kept > 3600:
        return  # the person's login would end first; the row above says it all
    fake_clock.advance(kept - 1)
    assert _open(logged_in, url).status_code == 200
    assert documents.hits(PATH) == 1
    fake_clock.advance(2)
    assert _open(logged_in, url).status_code == 200
    assert documents.hits(PATH) == 2


def test_expires_is_counted_from_the_answers_date(
    logged_in: FlaskClient, documents: HostileServer, fake_clock, app: Flask
):
    """``Expires`` 20 minutes after now (the test server adds its own ``Date``, to the second)."""
    expires = fake_clock.current + timedelta(minutes=20)
    url = _serve(documents, {"Expires": format_datetime(expires.astimezone(UTC), usegmt=True)})
    _open(logged_in, url)
    with app.app_context():
        row = clients.find_client(url)
        kept = (row.metadata_expires_at - row.metadata_fetched_at).total_seconds()
        assert 20 * 60 - 3 <= kept <= 20 * 60 + 3
    fake_clock.advance(kept - 1)
    _open(logged_in, url)
    assert documents.hits(PATH) == 1
    fake_clock.advance(2)
    _open(logged_in, url)
    assert documents.hits(PATH) == 2


def test_a_changed_document_changes_the_client_when_fetched_again(
    logged_in: FlaskClient, documents: HostileServer, fake_clock, app: Flask
):
    url = _serve(documents, {"Cache-Control": "max-age=120"})
    assert "Calendar Agent" in _open(logged_in, url).data.decode()
    _serve(documents, {"Cache-Control": "max-age=120"}, client_name="Calendar Agent 2")
    assert "Calendar Agent 2" not in _open(logged_in, url).data.decode()  # still the copy kept
    fake_clock.advance(121)
    assert "Calendar Agent 2" in _open(logged_in, url).data.decode()
    with app.app_context():
        row = clients.find_client(url)
        assert row is not None and row.name == "Calendar Agent 2"
        assert row.metadata_expires_at == row.metadata_fetched_at + timedelta(seconds=120)
        events = db.session.scalars(
            select(AuditEvent.event).where(AuditEvent.client_id == url).order_by(AuditEvent.id)
        ).all()
        assert events == ["client.created", "client.metadata_fetched"]


def test_a_name_is_shown_as_text_and_a_foreign_client_uri_not_at_all(
    logged_in: FlaskClient, documents: HostileServer, app: Flask
):
    url = _serve(
        documents,
        {},
        client_name="<script>alert(1)</script>\u202eevil",
        client_uri="https://phish.example/",
        logo_uri="https://tracker.example/logo.png",
    )
    page = _open(logged_in, url).data.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\u202e" not in page
    assert "phish.example" not in page
    assert "tracker.example" not in page  # no image is fetched by the person's browser


def test_a_document_without_a_name_is_called_by_its_host(
    logged_in: FlaskClient, documents: HostileServer
):
    url = _serve(documents, {}, client_name=None)
    page = _open(logged_in, url).data.decode()
    assert f"{url.split('/')[2].split(':')[0]}</span> wants to access your account" in page


def test_rules_for_urls_and_lifetimes():
    assert policy.names_metadata_document("https://a.example/c", allow_loopback=False)
    assert not policy.names_metadata_document("http://127.0.0.1/c", allow_loopback=False)
    assert policy.names_metadata_document("http://127.0.0.1/c", allow_loopback=True)
    assert not policy.names_metadata_document("demo-client", allow_loopback=True)
    assert policy.metadata_document_url_problem("https://a.example/c.json", False) is None
    assert policy.metadata_document_url_problem("http://localhost:8/c", True) is None
    assert policy.metadata_document_url_problem("http://a.example/c", True) == (
        "must be an https URL"
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = now + timedelta(minutes=10)
    assert policy.metadata_cache_seconds(None, later, None, now) == 600
    assert policy.metadata_cache_seconds(300, later, None, now) == 300  # max-age wins
    assert policy.only_loopback_redirects(["http://127.0.0.1:9/cb", "http://localhost/cb"])
    assert not policy.only_loopback_redirects(["http://127.0.0.1:9/cb", "https://a.example/cb"])
    assert not policy.only_loopback_redirects([])
