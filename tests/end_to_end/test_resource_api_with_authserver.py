"""Tokens minted by the real authorization server, used at the resource API (SPEC; issue 3).

The API validates them only through the server's published interface: discovery, JWKS and,
in introspection mode, RFC 7662.
"""

from __future__ import annotations

import base64
import json

from tests import factories
from tests.helpers import (
    basic_auth,
    client_credentials_token,
    csrf_token,
    exchange_code,
    get_code,
)


def _user_token(browser, app_client, scope: str) -> dict:
    code, _ = get_code(browser, app_client, scope=scope)
    response = exchange_code(browser, app_client, code)
    assert response.status_code == 200, response.data
    return response.get_json()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _service_token(app, http, scope: str) -> str:
    with app.app_context():
        service = factories.make_service_client("events:read events:write")
    return client_credentials_token(http, service, scope=scope)


def test_user_token_reads_profile_and_manages_events(api, logged_in, confidential_client, user):
    token = _user_token(
        logged_in, confidential_client, "openid profile email events:read events:write"
    )["access_token"]
    http = api.test_client()

    me = http.get("/api/me", headers=_bearer(token))
    assert me.status_code == 200, me.data
    assert me.get_json()["sub"] == user.subject

    created = http.post(
        "/api/events",
        json={
            "title": "Review",
            "starts_at": "2026-12-01T10:00:00Z",
            "ends_at": "2026-12-01T11:00:00Z",
        },
        headers=_bearer(token),
    )
    assert created.status_code == 201, created.data
    event_id = created.get_json()["id"]
    assert created.headers["Location"].endswith(f"/api/events/{event_id}")

    listed = http.get("/api/events", headers=_bearer(token)).get_json()
    assert [item["id"] for item in listed["items"]] == [event_id]

    assert http.delete(f"/api/events/{event_id}", headers=_bearer(token)).status_code == 204
    assert http.get(f"/api/events/{event_id}", headers=_bearer(token)).status_code == 404


def test_partially_granted_token_is_refused_where_scope_is_missing(
    api, logged_in, confidential_client
):
    """SPEC: a token carries only what the user granted; the API enforces it (RFC 6750 §3.1)."""
    token = _user_token(logged_in, confidential_client, "openid events:read")["access_token"]
    http = api.test_client()
    assert http.get("/api/events", headers=_bearer(token)).status_code == 200
    refused = http.post(
        "/api/events",
        json={"title": "x", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T11:00:00Z"},
        headers=_bearer(token),
    )
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert 'scope="events:write"' in refused.headers["WWW-Authenticate"]


def test_one_users_events_are_invisible_to_another(app, api, logged_in, confidential_client):
    token = _user_token(logged_in, confidential_client, "events:read events:write")["access_token"]
    http = api.test_client()
    event = http.post(
        "/api/events",
        json={
            "title": "Mine",
            "starts_at": "2026-12-01T10:00:00Z",
            "ends_at": "2026-12-01T11:00:00Z",
        },
        headers=_bearer(token),
    ).get_json()
    with app.app_context():
        other = factories.make_user()
    other_browser = app.test_client()
    from tests.helpers import login

    login(other_browser, other.email, other.password)
    other_token = _user_token(other_browser, confidential_client, "events:read")["access_token"]
    assert http.get(f"/api/events/{event['id']}", headers=_bearer(other_token)).status_code == 404
    assert http.get("/api/events", headers=_bearer(other_token)).get_json()["items"] == []


def test_client_credentials_token_is_accepted_for_its_scope(app, api, client):
    token = _service_token(app, client, "events:read")
    http = api.test_client()
    assert http.get("/api/events", headers=_bearer(token)).status_code == 200
    assert http.get("/api/me", headers=_bearer(token)).status_code == 403


def test_token_for_another_audience_is_refused(app, make_api, client):
    token = _service_token(app, client, "events:read")
    elsewhere = make_api(AUDIENCE="https://calendar.example.com")
    response = elsewhere.test_client().get("/api/events", headers=_bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_expired_token_is_refused(app, api, client, api_clock):
    token = _service_token(app, client, "events:read")
    http = api.test_client()
    assert http.get("/api/events", headers=_bearer(token)).status_code == 200
    api_clock.advance(600 + 31)  # lifetime plus the API's leeway
    assert http.get("/api/events", headers=_bearer(token)).status_code == 401


def test_key_rotation_is_picked_up_without_restarting_the_api(app, api, client, api_clock):
    """SPEC: after ``keys rotate`` new tokens carry the new kid; the API fetches the JWKS again
    when it meets an unknown kid, and old tokens keep working while their key is published."""
    before = _service_token(app, client, "events:read")
    http = api.test_client()
    assert http.get("/api/events", headers=_bearer(before)).status_code == 200

    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    after = _service_token(app, client, "events:read")
    # The API refetches at most once per ISSUER_MIN_REFETCH_INTERVAL (10 s); let that pass.
    api_clock.advance(11)
    assert http.get("/api/events", headers=_bearer(after)).status_code == 200
    assert http.get("/api/events", headers=_bearer(before)).status_code == 200


def test_revoked_token_stops_working_within_the_cache_bound_in_introspection_mode(
    app, make_api, client, api_clock, resource_server
):
    api = make_api(
        INTROSPECTION=True,
        INTROSPECTION_CLIENT_ID=resource_server.client_id,
        INTROSPECTION_CLIENT_SECRET=resource_server.secret,
    )
    with app.app_context():
        owner = factories.make_service_client()
    token = client_credentials_token(client, owner)
    http = api.test_client()
    assert http.get("/api/events", headers=_bearer(token)).status_code == 200

    revoked = client.post(
        "/oauth/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        headers=basic_auth(owner.client_id, owner.secret),
    )
    assert revoked.status_code == 200
    api_clock.advance(5.1)  # RESOURCE_API_INTROSPECTION_CACHE_TTL
    response = http.get("/api/events", headers=_bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_profile_shows_the_email_only_with_the_email_scope(
    api, logged_in, confidential_client, user
):
    """SPEC: GET /api/me needs ``profile``, and ``email`` to see the email."""
    http = api.test_client()
    without = _user_token(logged_in, confidential_client, "openid profile")["access_token"]
    body = http.get("/api/me", headers=_bearer(without)).get_json()
    assert body["sub"] == user.subject
    assert body["name"] == user.name
    assert "email" not in body

    with_email = _user_token(logged_in, confidential_client, "openid profile email")
    body = http.get("/api/me", headers=_bearer(with_email["access_token"])).get_json()
    assert body["email"] == user.email


# -- "Take back" at /account/apps, as the API sees it (issue 14, item 12) --------------------------

EVENT = {"title": "Review", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T11:00:00Z"}


def _take_back(browser, client_id: str, scope: str) -> None:
    page = browser.get("/account/apps")
    token = csrf_token(page.data)
    response = browser.post(
        f"/account/apps/{client_id}/revoke-scope", data={"csrf_token": token, "scope": scope}
    )
    assert response.status_code == 302, response.data


def test_a_taken_back_write_permission_stops_writing_when_the_api_introspects_writes(
    app, make_api, api_clock, logged_in, confidential_client, resource_server
):
    api = make_api(
        INTROSPECT_WRITES=True,
        INTROSPECTION_CLIENT_ID=resource_server.client_id,
        INTROSPECTION_CLIENT_SECRET=resource_server.secret,
    )
    http = api.test_client()
    token = _user_token(logged_in, confidential_client, "openid events:read events:write")[
        "access_token"
    ]
    assert http.post("/api/events", json=EVENT, headers=_bearer(token)).status_code == 201

    _take_back(logged_in, confidential_client.client_id, "events:write")
    api_clock.advance(5)  # RESOURCE_API_INTROSPECTION_CACHE_TTL

    refused = http.post("/api/events", json=EVENT, headers=_bearer(token))
    assert refused.status_code == 401, refused.data
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    # Reads are still checked locally: what /account/apps says (until the token expires).
    assert http.get("/api/events", headers=_bearer(token)).status_code == 200


def test_checking_tokens_locally_a_taken_back_permission_works_until_the_token_expires(
    app, api, api_clock, logged_in, confidential_client
):
    """The default API (JWT only): what /account/apps says, and no longer than that."""
    http = api.test_client()
    token = _user_token(logged_in, confidential_client, "openid events:read events:write")[
        "access_token"
    ]
    _take_back(logged_in, confidential_client.client_id, "events:write")

    assert http.post("/api/events", json=EVENT, headers=_bearer(token)).status_code == 201
    # Past the token's lifetime (ACCESS_TOKEN_TTL), and the API's tolerance for clock skew.
    claims = _claims(token)
    assert claims["exp"] - claims["iat"] == app.config["ACCESS_TOKEN_TTL"]
    api_clock.now = claims["exp"] + api.config["LEEWAY"] + 1
    expired = http.post("/api/events", json=EVENT, headers=_bearer(token))
    assert expired.status_code == 401, expired.data
