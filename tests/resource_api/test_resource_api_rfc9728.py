"""RFC 9728 OAuth 2.0 Protected Resource Metadata at the resource API: the document, and its
URL in every challenge (§5.1), so a client that meets a 401 finds the authorization server."""

from __future__ import annotations

import pytest

from .api_testing import AUDIENCE, ISSUER, bearer, challenge_params

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def test_the_document_names_the_resource_and_its_authorization_server(client):
    response = client.get(WELL_KNOWN)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    # §3.3: the resource value is the identifier the metadata was asked for.
    assert document["resource"] == AUDIENCE
    assert document["authorization_servers"] == [ISSUER]
    assert set(document["scopes_supported"]) == {"profile", "email", "events:read", "events:write"}
    assert document["bearer_methods_supported"] == ["header", "body"]
    # RFC 9449 §7 via RFC 9728 §2: DPoP-bound tokens are honoured, bearer tokens still too.
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256", "EdDSA"]
    assert document["dpop_bound_access_tokens_required"] is False
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_query_tokens_are_listed_only_when_allowed(make_app):
    app = make_app(ALLOW_QUERY_TOKEN=True)
    document = app.test_client().get(WELL_KNOWN).get_json()
    assert document["bearer_methods_supported"] == ["header", "body", "query"]


def test_a_resource_with_a_path_is_served_under_it(make_app):
    """§3.1: the well-known string goes between the host and the resource's path."""
    app = make_app(AUDIENCE="https://api.example.com/calendar")
    http = app.test_client()
    assert http.get(f"{WELL_KNOWN}/calendar").get_json()["resource"] == (
        "https://api.example.com/calendar"
    )
    assert http.get(WELL_KNOWN).status_code == 404
    assert http.get(f"{WELL_KNOWN}/other").status_code == 404
    missing = http.get("/api/me")
    assert challenge_params(missing)["resource_metadata"] == (
        f"https://api.example.com{WELL_KNOWN}/calendar"
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic YWxpY2U6c2VjcmV0"}, bearer("not-a-token")],
)
def test_every_401_names_the_metadata(client, headers):
    response = client.get("/api/events", headers=headers)
    assert response.status_code == 401
    assert challenge_params(response)["resource_metadata"] == f"{AUDIENCE}{WELL_KNOWN}"


def test_the_metadata_url_answers_with_the_document_a_challenge_promised(client):
    url = challenge_params(client.get("/api/me"))["resource_metadata"]
    assert url.startswith(AUDIENCE)
    assert client.get(url.removeprefix(AUDIENCE)).get_json()["resource"] == AUDIENCE
