"""Bad Client ID Metadata Documents (draft §4, §6; SSRF per RFC 9700 §4.2.4): huge, slow,
redirecting, on a private address, lying about their client_id, not JSON, asking for a secret
or for grants a public client may not have. Each gets the authorization endpoint's error page
(no redirect: the document that would vouch for the redirect URI is not trusted) or
``invalid_client`` at the token endpoint; never a 5xx, and no client is created."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AuditEvent, Client
from tests.helpers import assert_oauth_error, authorize_url, pkce_pair
from tests.hostile_server import Answer, HostileServer

from .conftest import DocumentClient, document

PATH = "/bad/client.json"
REDIRECT = "https://bad.example/cb"


def _authorize(browser: FlaskClient, client_id: str, redirect_uri: str = REDIRECT):
    _, challenge = pkce_pair()
    return browser.get(
        authorize_url(
            DocumentClient(client_id, redirect_uri),
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )


def _assert_error_page(response, *words: str) -> str:
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    text = response.data.decode()
    assert "Nothing was shared" in text
    for word in words:
        assert word in text, text
    return text


def _clients(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(Client).where(Client.metadata_document.is_(True))
        )


def _good(documents: HostileServer, **fields: object) -> bytes:
    return json.dumps(document(documents.url(PATH), REDIRECT, **fields)).encode()


BAD_DOCUMENTS = {
    "huge": (lambda d: Answer(body=_good(d, client_name="x" * 6000)), "larger than 5000 bytes"),
    "huge, no length": (
        lambda d: Answer(body=_good(d, client_name="x" * 6000), declare_length=False),
        "larger than 5000 bytes",
    ),
    "redirecting": (
        lambda d: Answer(
            status=302,
            body=b"",
            headers={"Location": d.url("/elsewhere.json"), "Content-Type": "application/json"},
        ),
        "redirects, which are not followed",
    ),
    "not found": (lambda d: Answer(status=404), "answered 404"),
    "not json": (lambda d: Answer(body=b"{not json"), "not readable JSON"),
    "not an object": (lambda d: Answer(body=b'["a list"]'), "not a JSON object"),
    "html": (
        lambda d: Answer(body=_good(d), headers={"Content-Type": "text/html"}),
        "did not answer with application/json",
    ),
    "lying client_id": (
        lambda d: Answer(body=_good(d, client_id="https://trusted.example/client.json")),
        "its client_id is not the URL it was fetched from",
    ),
    "client_id with a slash more": (
        lambda d: Answer(body=_good(d, client_id=d.url(PATH) + "/")),
        "its client_id is not the URL it was fetched from",
    ),
    "no redirect_uris": (
        lambda d: Answer(body=_good(d, redirect_uris=None)),
        "redirect_uris must be a non-empty list of strings",
    ),
    "redirect_uris not strings": (
        lambda d: Answer(body=_good(d, redirect_uris=[{"uri": REDIRECT}])),
        "redirect_uris must be a non-empty list of strings",
    ),
    "eleven redirect_uris": (
        lambda d: Answer(body=_good(d, redirect_uris=[f"{REDIRECT}/{n}" for n in range(11)])),
        "redirect_uris lists more than 10 URIs",
    ),
    "a javascript redirect": (
        lambda d: Answer(body=_good(d, redirect_uris=["javascript:alert(1)"])),
        "a redirect URI",
    ),
    "secret method": (
        lambda d: Answer(body=_good(d, token_endpoint_auth_method="client_secret_basic")),
        "token_endpoint_auth_method must be",
    ),
    "a secret": (
        lambda d: Answer(body=_good(d, client_secret="hunter2")),
        "must not carry client_secret",
    ),
    "client_credentials": (
        lambda d: Answer(body=_good(d, grant_types=["authorization_code", "client_credentials"])),
        "grant_types may hold only",
    ),
    "implicit": (
        lambda d: Answer(body=_good(d, response_types=["token"])),
        "response_types may only be",
    ),
    "name not a string": (
        lambda d: Answer(body=_good(d, client_name=["Bank"])),
        "client_name must be a string",
    ),
}


@pytest.mark.parametrize("case", BAD_DOCUMENTS, ids=list(BAD_DOCUMENTS))
def test_a_bad_document_gets_the_error_page_and_no_client(
    case: str, logged_in: FlaskClient, documents: HostileServer, app: Flask
):
    answer, reason = BAD_DOCUMENTS[case]
    documents.answers[PATH] = answer(documents)
    response = _authorize(logged_in, documents.url(PATH))
    _assert_error_page(response, "Application not recognised", reason)
    assert "bad.example" not in response.headers.get("Location", "")
    assert _clients(app) == 0
    with app.app_context():
        refused = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "client.metadata_refused")
        )
        assert refused is not None and refused.client_id == documents.url(PATH)
        assert reason in refused.detail["reason"]


def test_a_slow_document_is_given_up_on(logged_in: FlaskClient, documents: HostileServer, app):
    """Headers later than the read bound (2 s): refused, not waited for."""
    documents.answers[PATH] = Answer(body=_good(documents), delay=2.5)
    response = _authorize(logged_in, documents.url(PATH))
    _assert_error_page(response, "took too long")
    assert _clients(app) == 0


@pytest.mark.parametrize(
    "client_id, reason",
    [
        ("https://127.0.0.1/client.json", "loopback address"),
        ("https://10.1.2.3/client.json", "private address"),
        ("https://169.254.169.254/latest/meta-data/", "link-local address"),
        ("https://[::1]/client.json", "loopback address"),
        ("https://[::ffff:192.168.0.1]/client.json", "private address"),
    ],
)
def test_private_addresses_are_never_fetched_in_production(
    client_id: str, reason: str, logged_in: FlaskClient, app: Flask
):
    app.config["CIMD_ALLOW_LOOPBACK"] = False
    _assert_error_page(_authorize(logged_in, client_id), reason)
    assert _clients(app) == 0


@pytest.mark.parametrize(
    "client_id, reason",
    [
        ("https://bad.example", "must have a path"),
        ("https://bad.example/", "must have a path"),
        ("https://bad.example/a/../client.json", "must not contain . or .. path segments"),
        ("https://user:pw@bad.example/client.json", "must not contain a user name"),
        ("https://bad.example/client.json#frag", "must not contain a fragment"),
        ("https://bad.example/" + "x" * 2100, "longer than 2048"),
        ("https://bad.example/caf\u00e9.json", "printable ASCII"),
        ("http://bad.example/client.json", "must be an https URL"),
    ],
)
def test_a_url_that_cannot_name_a_document_is_refused_unfetched(
    client_id: str, reason: str, logged_in: FlaskClient, app: Flask
):
    _assert_error_page(_authorize(logged_in, client_id), reason)
    assert _clients(app) == 0


def test_in_production_plain_http_on_loopback_is_refused(logged_in: FlaskClient, app, documents):
    app.config["CIMD_ALLOW_LOOPBACK"] = False
    url = documents.url(PATH)  # http://127.0.0.1:port/...
    documents.answers[PATH] = Answer(body=_good(documents))
    response = _authorize(logged_in, url)
    # Not a document URL at all here: an unknown client, as any other unregistered id.
    assert response.status_code == 400 and "Location" not in response.headers
    assert documents.hits(PATH) == 0


def test_an_unlisted_redirect_uri_is_never_redirected_to(
    logged_in: FlaskClient, agent: DocumentClient, app: Flask
):
    """Exact match with the document's list (SPEC); the error page, no redirect."""
    for sent in (agent.redirect_uri + "/", agent.redirect_uri + "?x=1", "https://evil.example/cb"):
        response = _authorize(logged_in, agent.client_id, sent)
        _assert_error_page(response, "Redirect address not allowed")


def test_a_failure_is_remembered_briefly(
    logged_in: FlaskClient, documents: HostileServer, fake_clock, app: Flask
):
    documents.answers[PATH] = Answer(body=b"{not json")
    url = documents.url(PATH)
    _assert_error_page(_authorize(logged_in, url), "not readable JSON")
    documents.answers[PATH] = Answer(body=_good(documents))  # fixed at once...
    _assert_error_page(_authorize(logged_in, url), "not readable JSON")
    assert documents.hits(PATH) == 1  # ...but not asked for again within 30 s
    fake_clock.advance(31)
    assert _authorize(logged_in, url).status_code == 200
    assert documents.hits(PATH) == 2
    with app.app_context():  # the fetch is on the record; refusals from memory are not
        refused = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "client.metadata_refused")
        )
        assert refused is not None and refused.repeats == 1


@pytest.mark.parametrize(
    "app_config", [{"CIMD_ALLOW_LOOPBACK": True, "CIMD_FETCHES_PER_HOST_PER_MINUTE": 2}]
)
def test_fetches_are_throttled_per_host(logged_in: FlaskClient, documents: HostileServer, app):
    """Made-up URLs on one host (each a new client_id) fetch at most the limit per minute."""
    for n in range(2):
        _assert_error_page(_authorize(logged_in, documents.url(f"/made-up/{n}.json")), "404")
    response = _authorize(logged_in, documents.url("/made-up/2.json"))
    _assert_error_page(response, "Too many client metadata documents were fetched from")
    assert len(documents.requests) == 2


def test_the_token_endpoint_says_invalid_client_when_the_document_went_bad(
    logged_in: FlaskClient, agent: DocumentClient, documents: HostileServer, fake_clock
):
    from .test_flow import _code, _exchange  # one flow, written once

    verifier, challenge = pkce_pair()
    code = _code(logged_in, agent, challenge)
    tokens = _exchange(logged_in, agent, code, verifier).get_json()
    fake_clock.advance(3601)  # the document's max-age is over
    documents.answers["/agent/client.json"] = Answer(
        body=json.dumps(
            document(agent.client_id, agent.redirect_uri, client_id="https://x.example/c")
        ).encode()
    )
    response = logged_in.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": agent.client_id,
        },
    )
    assert_oauth_error(response, "invalid_client")  # 400: no Authorization header was sent
    assert documents.hits("/agent/client.json") == 2


def test_an_unknown_url_at_the_token_endpoint_is_invalid_client(
    client: FlaskClient, documents: HostileServer
):
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": "made-up",
            "redirect_uri": REDIRECT,
            "client_id": documents.url("/nobody.json"),
            "code_verifier": "x" * 50,
        },
    )
    assert_oauth_error(response, "invalid_client")


def test_cleanup_forgets_failures_once_they_may_be_fetched_again(
    logged_in: FlaskClient, documents: HostileServer, fake_clock, app: Flask
):
    from authserver.models import MetadataDocumentFailure
    from authserver.services.cleanup import cleanup

    documents.answers[PATH] = Answer(status=500)
    _assert_error_page(_authorize(logged_in, documents.url(PATH)), "answered 500")
    with app.app_context():
        assert cleanup().counts["metadata_document_failures"] == 0  # still remembered
        fake_clock.advance(31)
        assert cleanup().counts["metadata_document_failures"] == 1
        assert db.session.scalar(select(func.count()).select_from(MetadataDocumentFailure)) == 0
