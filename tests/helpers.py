"""Helpers that drive the server the way a browser and a client app would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from .factories import ClientInfo

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    match = _CSRF.search(text)
    assert match, "page has no csrf_token field"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str) -> TestResponse:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.data)},
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_url(app_client: ClientInfo, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": app_client.client_id,
        "redirect_uri": app_client.redirect_uri,
        "scope": "openid profile offline_access events:read",
        "state": "state-123",
    }
    query.update(params)
    return "/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


def consent(
    browser: FlaskClient, url: str, decision: str = "allow", scopes: list[str] | None = None
) -> TestResponse:
    """Open the consent page and answer it; ``scopes`` None keeps every box ticked."""
    page = browser.get(url)
    assert page.status_code == 200, page.data
    ticked = scopes
    if ticked is None:
        ticked = re.findall(r'name="scope" value="([^"]+)"', page.data.decode())
    data = {"csrf_token": csrf_token(page.data), "decision": decision, "scope": ticked}
    return browser.post(url, data=data)


def get_code(
    browser: FlaskClient, app_client: ClientInfo, scopes: list[str] | None = None, **params: str
) -> tuple[str, dict[str, str]]:
    """Run authorize and consent; return the code and the redirect's query."""
    url = authorize_url(app_client, **params)
    response = browser.get(url)
    if response.status_code == 200:
        response = consent(browser, url, scopes=scopes)
    assert response.status_code == 302, response.data
    query = query_of(response.headers["Location"])
    assert "code" in query, query
    return query["code"], query


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def exchange_code(
    http: FlaskClient, app_client: ClientInfo, code: str, **extra: str
) -> TestResponse:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app_client.redirect_uri,
    }
    data.update(extra)
    headers = {}
    if app_client.secret:
        headers = basic_auth(app_client.client_id, app_client.secret)
    else:
        data.setdefault("client_id", app_client.client_id)
    return http.post("/oauth/token", data=data, headers=headers)


def refresh(
    http: FlaskClient, app_client: ClientInfo, refresh_token: str, **extra: str
) -> TestResponse:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    data.update(extra)
    headers = {}
    if app_client.secret:
        headers = basic_auth(app_client.client_id, app_client.secret)
    else:
        data["client_id"] = app_client.client_id
    return http.post("/oauth/token", data=data, headers=headers)


def assert_oauth_error(response: TestResponse, error: str, status: int = 400) -> dict:
    """RFC 6749 §5.2: a JSON body with ``error``, the right status, never cached."""
    assert response.status_code == status, (response.status_code, response.data)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error, body
    return body


def assert_redirect_error(response: TestResponse, redirect_uri: str, error: str) -> dict[str, str]:
    """RFC 6749 §4.1.2.1 and RFC 9207: back to the client with ``error``, ``state`` and ``iss``."""
    assert response.status_code == 302, (response.status_code, response.data)
    location = response.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    query = query_of(location)
    assert query["error"] == error, query
    assert query["iss"] == "http://127.0.0.1:5000"
    return query


def decode_jwt(http: FlaskClient, token: str) -> tuple[dict, dict]:
    """Verify ``token`` against the published JWKS, as a resource server would; (header, claims)."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    keys = KeySet.import_key_set(http.get("/oauth/jwks").get_json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


def user_tokens(browser: FlaskClient, app_client: ClientInfo, **params: str) -> dict:
    """Authorize (with PKCE when the client is public), consent, exchange: the token response."""
    extra = {}
    if app_client.secret is None:
        verifier, challenge = pkce_pair()
        params.update(code_challenge=challenge, code_challenge_method="S256")
        extra["code_verifier"] = verifier
    code, _ = get_code(browser, app_client, **params)
    response = exchange_code(browser, app_client, code, **extra)
    assert response.status_code == 200, response.data
    return response.get_json()


def client_credentials_token(http: FlaskClient, app_client: ClientInfo, **data: str) -> str:
    """An access token the client gets for itself (RFC 6749 §4.4)."""
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **data},
        headers=basic_auth(app_client.client_id, app_client.secret),
    )
    assert response.status_code == 200, response.data
    return response.get_json()["access_token"]


def introspect(http: FlaskClient, caller: ClientInfo, token: str) -> TestResponse:
    """RFC 7662 introspection of ``token``, authenticated as ``caller`` with HTTP Basic."""
    return http.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic_auth(caller.client_id, caller.secret),
    )
