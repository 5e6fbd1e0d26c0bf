"""A client named by its metadata document's URL signs a person in end to end (draft-ietf-oauth-
client-id-metadata-document): authorize, consent showing where the document came from, code
with PKCE, token, refresh; Connected apps lists it and takes it back; the metadata says so."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent, Client
from authserver.services import ServiceError, clients
from tests.helpers import (
    assert_oauth_error,
    authorize_url,
    basic_auth,
    consent,
    csrf_token,
    decode_jwt,
    pkce_pair,
    query_of,
    refresh,
)
from tests.hostile_server import HostileServer

from .conftest import DocumentClient, document


def _code(browser: FlaskClient, agent: DocumentClient, challenge: str, **params: str) -> str:
    url = authorize_url(agent, code_challenge=challenge, code_challenge_method="S256", **params)
    response = browser.get(url)
    if response.status_code == 200:  # the consent page: allow everything asked
        response = consent(browser, url)
    assert response.status_code == 302, response.data
    query = query_of(response.headers["Location"])
    assert response.headers["Location"].startswith(agent.redirect_uri + "?")
    return query["code"]


def _exchange(http: FlaskClient, agent: DocumentClient, code: str, verifier: str):
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": agent.redirect_uri,
            "client_id": agent.client_id,
            "code_verifier": verifier,
        },
    )


def test_sign_in_with_a_url_client_id_from_consent_to_refresh(
    logged_in: FlaskClient, agent: DocumentClient, documents: HostileServer, app: Flask
):
    verifier, challenge = pkce_pair()
    url = authorize_url(agent, code_challenge=challenge, code_challenge_method="S256")
    page = logged_in.get(url)
    assert page.status_code == 200
    text = page.data.decode()
    host = agent.client_id.split("/")[2]
    assert f"From {host}." in text
    assert "Calendar Agent" in text
    assert "not registered here" in text
    assert "registered by the operator" not in text
    assert "Any program on your computer" not in text  # it goes back to an https site

    code = _code(logged_in, agent, challenge)
    tokens = _exchange(logged_in, agent, code, verifier)
    assert tokens.status_code == 200, tokens.data
    body = tokens.get_json()
    _, claims = decode_jwt(logged_in, body["access_token"])
    assert claims["client_id"] == agent.client_id
    assert "refresh_token" in body

    refreshed = refresh(logged_in, agent, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.data
    assert refreshed.get_json()["refresh_token"] != body["refresh_token"]
    # One fetch served the authorization, the consent, the code and both token requests.
    assert documents.hits("/agent/client.json") == 1

    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == agent.client_id))
        assert row is not None and row.metadata_document and row.is_public
        assert row.token_endpoint_auth_method == "none"
        assert row.redirect_uris == [agent.redirect_uri]
        created = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.event == "client.created", AuditEvent.client_id == agent.client_id
            )
        )
        assert created is not None and created.detail["metadata_document"] is True


def test_pkce_is_required_of_a_document_client(logged_in: FlaskClient, agent: DocumentClient):
    """Such a client is public: no code without an S256 challenge (SPEC, RFC 9700 §2.1.1).
    The document vouched for the redirect URI, so the error goes back to it."""
    response = logged_in.get(authorize_url(agent))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(agent.redirect_uri + "?")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_a_code_without_its_verifier_or_with_a_secret_gets_nothing(
    logged_in: FlaskClient, agent: DocumentClient
):
    verifier, challenge = pkce_pair()
    code = _code(logged_in, agent, challenge)
    wrong = _exchange(logged_in, agent, code, "x" * 50)
    assert_oauth_error(wrong, "invalid_grant")
    code = _code(logged_in, agent, challenge)
    with_secret = logged_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": agent.redirect_uri,
            "code_verifier": verifier,
        },
        headers=basic_auth(agent.client_id, "made-up"),
    )
    assert_oauth_error(with_secret, "invalid_client", 401)


def test_connected_apps_lists_the_document_client_and_takes_it_back(
    logged_in: FlaskClient, agent: DocumentClient
):
    verifier, challenge = pkce_pair()
    code = _code(logged_in, agent, challenge)
    tokens = _exchange(logged_in, agent, code, verifier).get_json()
    apps = logged_in.get("/account/apps")
    text = apps.data.decode()
    assert "Calendar Agent" in text
    assert "Described by a document" in text
    removed = logged_in.post(
        "/account/apps/revoke",
        data={"client_id": agent.client_id, "csrf_token": csrf_token(apps.data)},
    )
    assert removed.status_code == 302
    after = logged_in.get("/account/apps").data.decode()
    assert "Calendar Agent no longer has access" in after
    assert "Described by a document" not in after
    assert_oauth_error(refresh(logged_in, agent, tokens["refresh_token"]), "invalid_grant")


def test_loopback_redirects_are_flagged_on_the_consent_page(
    logged_in: FlaskClient, documents: HostileServer
):
    """draft §6.2: a document whose redirect URIs are all on this computer could be claimed
    by any local program; the person is told so."""
    url = documents.url("/cli/client.json")
    documents.serve_json("/cli/client.json", document(url, "http://127.0.0.1:8765/cb"))
    cli = DocumentClient(url, "http://127.0.0.1:8765/cb")
    _, challenge = pkce_pair()
    page = logged_in.get(authorize_url(cli, code_challenge=challenge, code_challenge_method="S256"))
    assert page.status_code == 200
    assert "Any program on your computer could be" in page.data.decode()


def test_scope_is_limited_to_the_catalogue_and_to_what_the_document_names(
    logged_in: FlaskClient, documents: HostileServer, app: Flask
):
    url = documents.url("/narrow/client.json")
    documents.serve_json(
        "/narrow/client.json",
        document(url, "https://narrow.example/cb", scope="openid events:read admin:everything"),
    )
    narrow = DocumentClient(url, "https://narrow.example/cb")
    _, challenge = pkce_pair()
    response = logged_in.get(
        authorize_url(
            narrow,
            scope="openid events:write",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_scope"
    with app.app_context():
        row = clients.find_client(url)
        assert row is not None and row.scope == "openid events:read"


def test_the_metadata_advertises_documents(client: FlaskClient):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        assert client.get(path).get_json()["client_id_metadata_document_supported"] is True


@pytest.mark.parametrize("app_config", [{"CIMD_ENABLED": False, "CIMD_ALLOW_LOOPBACK": True}])
def test_disabled_the_metadata_is_silent_and_a_url_client_id_is_unknown(
    logged_in: FlaskClient, agent: DocumentClient, documents: HostileServer
):
    metadata = logged_in.get("/.well-known/oauth-authorization-server").get_json()
    assert "client_id_metadata_document_supported" not in metadata
    _, challenge = pkce_pair()
    page = logged_in.get(
        authorize_url(agent, code_challenge=challenge, code_challenge_method="S256")
    )
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "not registered with this server" in page.data.decode()
    assert documents.hits("/agent/client.json") == 0


def test_a_document_client_cannot_be_edited(
    logged_in: FlaskClient, agent: DocumentClient, app: Flask
):
    _, challenge = pkce_pair()
    assert (
        logged_in.get(
            authorize_url(agent, code_challenge=challenge, code_challenge_method="S256")
        ).status_code
        == 200
    )
    with app.app_context():
        row = clients.find_client(agent.client_id)
        assert row is not None
        try:
            clients.update_client(
                row, "Renamed", ["https://evil.example/cb"], "openid", ["authorization_code"]
            )
        except ServiceError as error:
            assert "metadata document" in error.message
        else:
            raise AssertionError("a document client was edited")
        db.session.rollback()
        assert clients.find_client(agent.client_id).name == "Calendar Agent"


def test_the_document_client_revokes_its_own_refresh_token(
    logged_in: FlaskClient, agent: DocumentClient
):
    """RFC 7009 §2.1: a public client names itself; the grant then ends."""
    verifier, challenge = pkce_pair()
    code = _code(logged_in, agent, challenge)
    tokens = _exchange(logged_in, agent, code, verifier).get_json()
    revoked = logged_in.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "client_id": agent.client_id},
    )
    assert revoked.status_code == 200
    assert_oauth_error(refresh(logged_in, agent, tokens["refresh_token"]), "invalid_grant")


def test_switching_documents_off_stops_the_clients_they_let_in(
    logged_in: FlaskClient, agent: DocumentClient, app: Flask
):
    verifier, challenge = pkce_pair()
    code = _code(logged_in, agent, challenge)
    tokens = _exchange(logged_in, agent, code, verifier).get_json()
    app.config["CIMD_ENABLED"] = False
    assert_oauth_error(refresh(logged_in, agent, tokens["refresh_token"]), "invalid_client")
    page = logged_in.get(
        authorize_url(agent, code_challenge=challenge, code_challenge_method="S256")
    )
    assert page.status_code == 400 and "Location" not in page.headers
    assert "not registered with this server" in page.data.decode()
