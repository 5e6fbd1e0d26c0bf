"""CORS (SPEC, Policy): "discovery and JWKS answer CORS for any origin; token, UserInfo and
revocation for the origins of the calling client's registered redirect URIs"."""

from __future__ import annotations

import pytest

from authserver.extensions import db
from authserver.services import clients
from tests import factories
from tests.helpers import basic_auth, user_tokens

SPA = "http://127.0.0.1:5173"
SPA_REDIRECT = f"{SPA}/callback.html"
OTHER = "https://evil.example"
CLIENT_PATHS = ["/oauth/token", "/oauth/revoke", "/oauth/userinfo"]


def preflight(client, path: str, origin: str | None, method: str = "POST"):
    headers = {
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    if origin:
        headers["Origin"] = origin
    return client.options(path, headers=headers)


@pytest.fixture
def spa(app, user) -> factories.ClientInfo:
    """A public single-page app served from SPA, with PKCE."""
    with app.app_context():
        return factories.make_client(
            owner_email=user.email, public=True, redirect_uris=[SPA_REDIRECT]
        )


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("http://127.0.0.1:5173/callback", "http://127.0.0.1:5173"),
        ("HTTPS://App.Example.com:443/cb?x=1", "https://app.example.com"),
        ("https://app.example.com:8443/cb", "https://app.example.com:8443"),
        ("http://localhost:80/cb", "http://localhost"),
        ("http://[::1]:8080/cb", "http://[::1]:8080"),
        ("com.example.app:/callback", None),
        ("http://127.0.0.1:99999/cb", None),
        ("null", None),
    ],
)
def test_origin_of_a_uri_is_what_a_browser_sends(uri, origin):
    assert clients.origin_of(uri) == origin


def test_allowed_origins_are_those_of_the_redirect_uris(app, user):
    with app.app_context():
        created = factories.make_client(
            redirect_uris=[
                "https://a.example/cb",
                "https://a.example/other",
                "http://localhost:3000/",
            ]
        )
        client = clients.find_client(created.client_id)
        assert clients.allowed_origins(client) == {"https://a.example", "http://localhost:3000"}


def test_registered_origins_follow_client_changes(app, user):
    """The per-process cache of every client's origins is dropped when any client changes."""
    with app.app_context():
        assert clients.registered_origins() == frozenset()
    with app.app_context():
        created = factories.make_client(redirect_uris=["https://a.example/cb"])
    with app.app_context():
        assert clients.registered_origins() == {"https://a.example"}
    with app.app_context():
        client = clients.find_client(created.client_id)
        clients.update_client(
            client, client.name, ["https://b.example/cb"], client.scope, client.grant_types
        )
        db.session.commit()
    with app.app_context():
        assert clients.registered_origins() == {"https://b.example"}
    with app.app_context():
        clients.delete_client(clients.find_client(created.client_id))
        db.session.commit()
    with app.app_context():
        assert clients.registered_origins() == frozenset()


# --- discovery and JWKS: any origin -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/oauth/jwks"],
)
def test_public_documents_answer_any_origin(client, app, path):
    response = client.get(path, headers={"Origin": OTHER})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers

    answer = preflight(client, path, OTHER, method="GET")
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in answer.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in answer.headers


def test_public_documents_without_origin_still_say_star(client, app):
    response = client.get("/oauth/jwks")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- token, UserInfo, revocation: the client's own origins --------------------------------------


@pytest.mark.parametrize("path", CLIENT_PATHS)
def test_preflight_allows_an_origin_of_any_registered_client(client, spa, path):
    method = "GET" if path == "/oauth/userinfo" else "POST"
    answer = preflight(client, path, SPA, method)
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == SPA
    assert method in answer.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type", "dpop"}  # dpop: RFC 9449 proofs
    assert "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers


@pytest.mark.parametrize("path", CLIENT_PATHS)
def test_preflight_refuses_an_origin_no_client_registered(client, spa, path):
    answer = preflight(client, path, OTHER)
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Methods" not in answer.headers
    assert "Origin" in answer.headers["Vary"]


@pytest.mark.parametrize("path", CLIENT_PATHS)
def test_preflight_without_origin_gets_no_cors_headers(client, spa, path):
    answer = preflight(client, path, None)
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Origin" in answer.headers["Vary"]


def test_the_whole_browser_flow_of_a_single_page_app(logged_in, spa):
    client = logged_in
    """Token, UserInfo, revocation from the SPA's origin: each answer readable there."""
    tokens = user_tokens(client, spa, scope="openid profile email offline_access")
    # The exchange itself (user_tokens) sent no Origin; a browser does:
    access = tokens["access_token"]

    answer = client.get(
        "/oauth/userinfo", headers={"Origin": SPA, "Authorization": f"Bearer {access}"}
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == SPA
    assert "WWW-Authenticate" in answer.headers["Access-Control-Expose-Headers"]
    assert "DPoP-Nonce" in answer.headers["Access-Control-Expose-Headers"]  # RFC 9449 §8
    assert "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers

    refreshed = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": spa.client_id,
        },
        headers={"Origin": SPA},
    )
    assert refreshed.status_code == 200, refreshed.data
    assert refreshed.headers["Access-Control-Allow-Origin"] == SPA
    assert "Origin" in refreshed.headers["Vary"]

    revoked = client.post(
        "/oauth/revoke",
        data={"token": refreshed.get_json()["refresh_token"], "client_id": spa.client_id},
        headers={"Origin": SPA},
    )
    assert revoked.status_code == 200, revoked.data
    assert revoked.headers["Access-Control-Allow-Origin"] == SPA

    # The revoked grant's access token: the 401 is readable by the app, so it can say why.
    expired = client.get(
        "/oauth/userinfo",
        headers={"Origin": SPA, "Authorization": f"Bearer {refreshed.get_json()['access_token']}"},
    )
    assert expired.status_code == 401
    assert expired.headers["Access-Control-Allow-Origin"] == SPA


def test_an_error_for_the_calling_client_is_readable_at_its_origin(client, spa):
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "nope", "client_id": spa.client_id},
        headers={"Origin": SPA},
    )
    assert answer.status_code == 400
    assert answer.headers["Access-Control-Allow-Origin"] == SPA


def test_another_origin_cannot_read_the_client_answers(logged_in, spa):
    client = logged_in
    tokens = user_tokens(client, spa, scope="openid profile offline_access")
    answer = client.get(
        "/oauth/userinfo",
        headers={"Origin": OTHER, "Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert answer.status_code == 200  # CORS hides the answer from the page, it does not refuse
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Origin" in answer.headers["Vary"]

    answer = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": spa.client_id,
        },
        headers={"Origin": OTHER},
    )
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_an_origin_of_another_client_is_not_this_clients(client, app, spa, confidential_client):
    """The preflight lets SPA's origin through (a client registered it); the actual request
    from that origin with another client's credentials is not readable there."""
    assert preflight(client, "/oauth/token", SPA).headers["Access-Control-Allow-Origin"] == SPA
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "events:read"},
        headers={
            "Origin": SPA,
            **basic_auth(confidential_client.client_id, confidential_client.secret),
        },
    )
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Origin" in answer.headers["Vary"]


def test_basic_auth_names_the_client(client, app, user):
    with app.app_context():
        web = factories.make_client(
            redirect_uris=["https://web.example/cb"], grant_types=["client_credentials"]
        )
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "events:read"},
        headers={"Origin": "https://web.example", **basic_auth(web.client_id, web.secret)},
    )
    assert answer.status_code == 200, answer.data
    assert answer.headers["Access-Control-Allow-Origin"] == "https://web.example"


def test_requests_without_origin_get_no_cors_headers(logged_in, spa):
    client = logged_in
    tokens = user_tokens(client, spa, scope="openid")
    answer = client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Origin" in answer.headers["Vary"]


def test_pages_get_no_cors_headers(client, spa):
    for path in ("/login", "/signup", "/"):
        answer = client.get(path, headers={"Origin": SPA})
        assert "Access-Control-Allow-Origin" not in answer.headers, path


# --- dynamic registration: any origin (a browser-based MCP client registers itself) -------------

BROWSER_CLIENT = "http://localhost:6274"


@pytest.mark.parametrize("app_config", [{"REGISTRATION_ENABLED": True}])
def test_a_page_on_any_origin_registers_then_uses_its_own_origin(client, app):
    answer = preflight(client, "/oauth/register", BROWSER_CLIENT, method="POST")
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in answer.headers

    registered = client.post(
        "/oauth/register",
        json={
            "client_name": "Inspector",
            "redirect_uris": [f"{BROWSER_CLIENT}/oauth/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        },
        headers={"Origin": BROWSER_CLIENT},
    )
    assert registered.status_code == 201, registered.get_json()
    assert registered.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in registered.headers

    # Its management URL (RFC 7592) answers any origin too; the registration token decides.
    management = registered.get_json()["registration_client_uri"].split("://", 1)[1]
    management_path = management[management.index("/") :]
    answer = preflight(client, management_path, BROWSER_CLIENT, method="PUT")
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in answer.headers["Access-Control-Allow-Methods"]

    # From now on the token endpoint answers that origin: it is the registered client's own.
    token_preflight = preflight(client, "/oauth/token", BROWSER_CLIENT)
    assert token_preflight.headers["Access-Control-Allow-Origin"] == BROWSER_CLIENT


def test_closed_registration_still_refuses_whatever_the_origin(client, app):
    answer = client.post(
        "/oauth/register",
        json={"redirect_uris": ["https://x.example/cb"]},
        headers={"Origin": OTHER},
    )
    assert answer.status_code == 404
