"""RFC 8414 §3.1 and OIDC Discovery §4.1 for an issuer with a path: the metadata is found at
all three places clients (MCP clients among them) try, and names that issuer exactly."""

from __future__ import annotations

import pytest

TENANT_ISSUER = "http://127.0.0.1:5000/tenant"
LOCATIONS = [
    "/.well-known/oauth-authorization-server/tenant",
    "/.well-known/openid-configuration/tenant",
    "/tenant/.well-known/openid-configuration",
]


@pytest.mark.parametrize("app_config", [{"ISSUER": TENANT_ISSUER}])
@pytest.mark.parametrize("location", LOCATIONS)
def test_metadata_is_found_where_clients_look(app_config, client, location) -> None:
    response = client.get(location)
    assert response.status_code == 200, location
    metadata = response.get_json()
    # RFC 8414 §3.3: the issuer in the document is the one whose metadata was asked for.
    assert metadata["issuer"] == TENANT_ISSUER
    assert metadata["token_endpoint"] == f"{TENANT_ISSUER}/oauth/token"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("app_config", [{"ISSUER": TENANT_ISSUER}])
@pytest.mark.parametrize(
    "location",
    [
        "/.well-known/oauth-authorization-server/other",
        "/.well-known/openid-configuration/tenant/more",
        "/other/.well-known/openid-configuration",
    ],
)
def test_other_paths_are_not_this_issuer(app_config, client, location) -> None:
    assert client.get(location).status_code == 404


@pytest.mark.parametrize("location", LOCATIONS)
def test_an_issuer_without_a_path_has_no_suffixed_documents(client, location) -> None:
    assert client.get(location).status_code == 404
    assert client.get("/.well-known/oauth-authorization-server").status_code == 200
