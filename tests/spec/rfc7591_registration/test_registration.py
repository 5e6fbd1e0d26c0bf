"""RFC 7591 dynamic client registration and RFC 7592 client management at /oauth/register."""

from __future__ import annotations

import pytest

from tests.factories import ClientInfo
from tests.helpers import (
    assert_oauth_error,
    authorize_url,
    basic_auth,
    decode_jwt,
    exchange_code,
    get_code,
    login,
    pkce_pair,
)

ISSUER = "http://127.0.0.1:5000"
ENABLED = {"REGISTRATION_ENABLED": True}
PROTECTED = {"REGISTRATION_ENABLED": True, "REGISTRATION_INITIAL_ACCESS_TOKEN": "initial-secret"}
METADATA = {
    "client_name": "Dynamic App",
    "redirect_uris": ["https://dyn.example.com/cb"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "scope": "openid profile email",
}


@pytest.fixture
def app_config() -> dict:
    return ENABLED


def register(http, metadata: dict | None = None, token: str | None = None, **extra):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post("/oauth/register", json={**(metadata or METADATA), **extra}, headers=headers)


def registered(http, **extra) -> dict:
    response = register(http, **extra)
    assert response.status_code == 201, response.data
    return response.get_json()


def manage(http, body: dict, method: str = "GET", token: str | None = None, json=None):
    path = body["registration_client_uri"].removeprefix(ISSUER)
    token = body["registration_access_token"] if token is None else token
    return http.open(path, method=method, json=json, headers={"Authorization": f"Bearer {token}"})


def assert_invalid_token(response) -> None:
    """RFC 6750 §3.1: 401 and a Bearer challenge naming invalid_token."""
    assert response.status_code == 401, (response.status_code, response.data)
    assert response.get_json()["error"] == "invalid_token"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer") and 'error="invalid_token"' in challenge


# --- off by default ----------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{}])
def test_registration_is_off_by_default(app_config, client):
    """Dynamic registration is an option of the operator (RFC 7591 §1); off, the endpoint does
    not exist: 404, and the metadata names no registration_endpoint (RFC 8414 §2)."""
    assert register(client).status_code == 404
    assert client.get("/oauth/register/anything").status_code == 404
    assert "registration_endpoint" not in client.get("/.well-known/openid-configuration").json


# --- registration ------------------------------------------------------------------------------


def test_registration_returns_201_with_credentials_and_metadata(client):
    """The server responds with an HTTP 201 Created status code and a body of type
    application/json with content as described in Section 3.2.1 — RFC 7591 §3.2.1: client_id
    REQUIRED, client_secret OPTIONAL, client_secret_expires_at REQUIRED if client_secret is
    issued, and all registered metadata about the client."""
    response = register(client)
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["client_id"]
    assert len(body["client_secret"]) >= 43  # 256 bits, base64url
    assert body["client_secret_expires_at"] == 0
    assert isinstance(body["client_id_issued_at"], int)
    for key, value in METADATA.items():
        assert body[key] == value, key
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    # RFC 7592 §3: how to manage it.
    assert body["registration_client_uri"] == f"{ISSUER}/oauth/register/{body['client_id']}"
    assert len(body["registration_access_token"]) >= 43


def test_a_registered_client_completes_a_code_flow(client, user):
    """A registered client is a client like any other (RFC 7591 §1): code, token, id_token."""
    body = registered(client)
    login(client, user.email, user.password)
    app_client = ClientInfo(
        0, body["client_id"], body["client_secret"], METADATA["redirect_uris"][0], body["scope"]
    )
    code, _ = get_code(client, app_client, scope="openid email", nonce="dyn")
    response = exchange_code(client, app_client, code)
    assert response.status_code == 200, response.data
    tokens = response.get_json()
    # offline_access was not asked for, so no refresh token (OIDC Core §11, SPEC).
    assert "refresh_token" not in tokens
    _, claims = decode_jwt(client, tokens["id_token"])
    assert claims["aud"] == body["client_id"]
    assert claims["nonce"] == "dyn"


def test_a_public_client_registers_without_a_secret_and_uses_pkce(client, user):
    """token_endpoint_auth_method "none": the client is a public client without a secret —
    RFC 7591 §2; it then must use PKCE (SPEC)."""
    body = registered(client, token_endpoint_auth_method="none")
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    assert "client_secret_expires_at" not in body
    login(client, user.email, user.password)
    app_client = ClientInfo(0, body["client_id"], None, METADATA["redirect_uris"][0], "")
    verifier, challenge = pkce_pair()
    code, _ = get_code(
        client,
        app_client,
        scope="openid profile",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    response = exchange_code(client, app_client, code, code_verifier=verifier)
    assert response.status_code == 200, response.data


def test_the_auth_method_registered_is_the_one_reported_and_it_works(client):
    """token_endpoint_auth_method — RFC 7591 §2. The server MAY substitute a value, but the
    metadata it returns is what is registered — §3.2.1 — and a read returns the same — RFC 7592
    §3; the method so reported then authenticates the client."""
    body = registered(
        client,
        token_endpoint_auth_method="client_secret_post",
        grant_types=["client_credentials"],
        scope="events:read",
    )
    read = manage(client, body).get_json()
    assert read["token_endpoint_auth_method"] == body["token_endpoint_auth_method"]
    data = {"grant_type": "client_credentials", "scope": "events:read"}
    headers = {}
    if body["token_endpoint_auth_method"] == "client_secret_post":
        data.update(client_id=body["client_id"], client_secret=body["client_secret"])
    else:
        headers = basic_auth(body["client_id"], body["client_secret"])
    response = client.post("/oauth/token", data=data, headers=headers)
    assert response.status_code == 200, response.data


def test_read_returns_the_registered_metadata(client):
    """Client Read Request: the authorization server responds with ... the client's registered
    metadata — RFC 7592 §2.1, §3."""
    body = registered(client)
    response = manage(client, body)
    assert response.status_code == 200, response.data
    read = response.get_json()
    assert read["client_id"] == body["client_id"]
    assert read["client_name"] == METADATA["client_name"]
    assert read["redirect_uris"] == METADATA["redirect_uris"]
    assert read["grant_types"] == METADATA["grant_types"]
    assert set(read["scope"].split()) == set(METADATA["scope"].split())
    assert read["token_endpoint_auth_method"] == body["token_endpoint_auth_method"]
    assert read["registration_client_uri"] == body["registration_client_uri"]


def test_a_registered_post_logout_redirect_uri_is_honoured(client, user):
    """post_logout_redirect_uris: Array of URLs supplied by the RP to which it MAY request that
    the End-User's User Agent be redirected — RP-Initiated Logout §3.1 (registration metadata);
    the end_session endpoint then redirects there."""
    body = registered(client, post_logout_redirect_uris=["https://dyn.example.com/bye"])
    assert body.get("post_logout_redirect_uris") == ["https://dyn.example.com/bye"]
    assert manage(client, body).get_json()["post_logout_redirect_uris"] == [
        "https://dyn.example.com/bye"
    ]
    login(client, user.email, user.password)
    app_client = ClientInfo(
        0, body["client_id"], body["client_secret"], METADATA["redirect_uris"][0], ""
    )
    code, _ = get_code(client, app_client, scope="openid")
    id_token = exchange_code(client, app_client, code).get_json()["id_token"]
    response = client.get(
        "/oauth/logout?"
        + f"id_token_hint={id_token}&post_logout_redirect_uri=https://dyn.example.com/bye"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://dyn.example.com/bye"


def test_a_self_registered_post_logout_uri_is_no_open_redirect(app, client, user):
    """RFC 9700 §4.11.2: whoever registers a client gets ID tokens for it; such a token must not
    turn /oauth/logout into a redirector for visitors who have no session here to end."""
    body = registered(client, post_logout_redirect_uris=["https://dyn.example.com/bye"])
    login(client, user.email, user.password)
    app_client = ClientInfo(
        0, body["client_id"], body["client_secret"], METADATA["redirect_uris"][0], ""
    )
    code, _ = get_code(client, app_client, scope="openid")
    id_token = exchange_code(client, app_client, code).get_json()["id_token"]
    stranger = app.test_client()
    response = stranger.get(
        "/oauth/logout?"
        + f"id_token_hint={id_token}&post_logout_redirect_uri=https://dyn.example.com/bye"
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "Back to Dynamic App (dyn.example.com)" in page
    assert client.get("/account/apps").status_code == 200  # nobody's session was touched


# --- invalid metadata --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uris",
    [
        ["http://dyn.example.com/cb"],  # plain http off loopback
        ["https://dyn.example.com/cb#fragment"],  # fragments are forbidden (RFC 6749 §3.1.2)
        ["not a url"],
        ["/relative/cb"],
        ["https://user:pw@dyn.example.com/cb"],
        ["javascript:alert(1)"],
    ],
    ids=["http-off-loopback", "fragment", "not-a-url", "relative", "userinfo", "javascript"],
)
def test_a_bad_redirect_uri_is_invalid_redirect_uri(client, redirect_uris):
    """invalid_redirect_uri: The value of one or more redirection URIs is invalid — RFC 7591
    §3.2.2; with 400 Bad Request."""
    response = register(client, redirect_uris=redirect_uris)
    assert_oauth_error(response, "invalid_redirect_uri")


def test_a_code_client_without_redirect_uris_is_refused(client):
    """Clients using flows with redirection MUST register their redirection URI values —
    RFC 7591 §2."""
    response = register(client, redirect_uris=[])
    # A required field left out, not an invalid URI (RFC 7591 §3.2.2).
    assert_oauth_error(response, "invalid_client_metadata")


@pytest.mark.parametrize(
    "extra",
    [
        {"scope": "openid admin"},
        {"grant_types": ["password"]},
        {"grant_types": ["implicit"], "response_types": ["token"]},
        {"response_types": ["token"]},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"grant_types": ["refresh_token"]},
        {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
        {"client_name": "x" * 500},
        {"client_uri": "not a url"},
        {"contacts": "admin@example.com"},
    ],
)
def test_invalid_metadata_is_invalid_client_metadata(client, extra):
    """invalid_client_metadata: The value of one of the client metadata fields is invalid and the
    server has rejected this request — RFC 7591 §3.2.2."""
    response = register(client, **extra)
    assert_oauth_error(response, "invalid_client_metadata")


def test_a_refused_registration_creates_no_client(app, client):
    from sqlalchemy import func, select

    from authserver.extensions import db
    from authserver.models import Client

    register(client, scope="openid admin")
    register(client, redirect_uris=["http://dyn.example.com/cb"])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Client)) == 0


# --- initial access token ----------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [PROTECTED])
@pytest.mark.parametrize("token", [None, "wrong", "initial-secre", "initial-secret-and-more"])
def test_an_initial_access_token_is_required_when_configured(app_config, client, token):
    """The initial access token ... If the token is invalid, the server responds per RFC 6750
    — RFC 7591 §3 (401 invalid_token)."""
    response = register(client, token=token)
    assert_invalid_token(response)


@pytest.mark.parametrize("app_config", [PROTECTED])
def test_the_right_initial_access_token_registers(app_config, client):
    assert register(client, token="initial-secret").status_code == 201


# --- RFC 7592 management -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("token", ["", "wrong", "x" * 300])
def test_management_with_a_wrong_token_is_invalid_token(client, method, token):
    """If the registration access token used to make this request is not valid, the server MUST
    respond with an error as described in RFC 6750 — RFC 7592 §2.1-2.3."""
    body = registered(client)
    payload = {"client_id": body["client_id"], **METADATA} if method == "PUT" else None
    assert_invalid_token(manage(client, body, method, token=token, json=payload))
    assert manage(client, body).status_code == 200  # untouched


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_one_clients_token_does_not_manage_another_client(client, method):
    """The registration access token is bound to its client (RFC 7592 §1): for another client's
    configuration endpoint it is not a valid token (RFC 6750 §3.1 invalid_token), and that
    client is left alone."""
    first = registered(client)
    second = registered(client, client_name="Second")
    target = {**second, "registration_access_token": first["registration_access_token"]}
    payload = {"client_id": second["client_id"], **METADATA} if method == "PUT" else None
    response = manage(client, target, method, json=payload)
    assert_invalid_token(response)
    assert manage(client, second).get_json()["client_name"] == "Second"


def test_update_replaces_the_metadata(client, user):
    """Client Update Request: This request MUST include all client metadata fields as returned
    to the client from a previous registration, read, or update operation ... omitted fields
    are treated as null or empty values — RFC 7592 §2.2."""
    body = registered(client)
    new = {
        "client_id": body["client_id"],
        "client_name": "Renamed App",
        "redirect_uris": ["https://dyn.example.com/new-cb"],
        "grant_types": ["authorization_code"],
        "scope": "openid",
    }
    response = manage(client, body, "PUT", json=new)
    assert response.status_code == 200, response.data
    updated = response.get_json()
    assert updated["client_name"] == "Renamed App"
    assert updated["redirect_uris"] == ["https://dyn.example.com/new-cb"]
    assert updated["grant_types"] == ["authorization_code"]
    assert updated["scope"] == "openid"
    assert manage(client, body).get_json()["client_name"] == "Renamed App"
    # The new redirect URI works and the old one is refused.
    login(client, user.email, user.password)
    app_client = ClientInfo(
        0, body["client_id"], body["client_secret"], "https://dyn.example.com/new-cb", ""
    )
    code, _ = get_code(client, app_client, scope="openid")
    assert exchange_code(client, app_client, code).status_code == 200
    old = client.get(authorize_url(app_client, redirect_uri=METADATA["redirect_uris"][0]))
    assert old.status_code == 400 and "Location" not in old.headers


def test_update_with_invalid_metadata_is_refused_and_changes_nothing(client):
    """RFC 7592 §2.2: the same errors as RFC 7591 §3.2.2."""
    body = registered(client)
    bad_uri = {"client_id": body["client_id"], **METADATA, "redirect_uris": ["http://x.example"]}
    assert_oauth_error(manage(client, body, "PUT", json=bad_uri), "invalid_redirect_uri")
    bad_scope = {"client_id": body["client_id"], **METADATA, "scope": "openid admin"}
    assert_oauth_error(manage(client, body, "PUT", json=bad_scope), "invalid_client_metadata")
    assert manage(client, body).get_json()["redirect_uris"] == METADATA["redirect_uris"]


def test_update_must_name_the_client_and_not_set_server_fields(client):
    """The client MUST include its client_id field in the request ... The request MUST NOT
    include the registration_access_token, registration_client_uri, client_secret_expires_at,
    or client_id_issued_at fields — RFC 7592 §2.2 (invalid_request)."""
    body = registered(client)
    assert_oauth_error(manage(client, body, "PUT", json=METADATA), "invalid_request")
    for field in ("registration_client_uri", "client_id_issued_at"):
        payload = {"client_id": body["client_id"], **METADATA, field: body[field]}
        assert_oauth_error(manage(client, body, "PUT", json=payload), "invalid_request")


# --- RFC 7592 §2.2: an update replaces the metadata ---------------------------------------------


def put(http, body: dict, metadata: dict):
    return manage(http, body, "PUT", json={"client_id": body["client_id"], **metadata})


#: What identifies one registration, or is shown only once, rather than describing the client.
NOT_METADATA = ("client_id", "client_id_issued_at", "client_secret", "registration_access_token")


def registered_metadata(body: dict) -> dict:
    """A client information response without what differs between two registrations."""
    return {k: v for k, v in body.items() if k not in NOT_METADATA}


def test_fields_left_out_of_an_update_get_the_defaults_a_registration_without_them_gets(
    client, user
):
    """This request MUST include all client metadata fields as returned to the client from a
    previous registration, read, or update operation ... Omitted fields MUST be treated as null
    or empty values by the server, indicating the client's request to delete them from the
    client's registration — RFC 7592 §2.2. The server MAY substitute suitable values (RFC 7591
    §3.2.1): the ones a registration without those fields gets, so client_name is the name a
    nameless registration shows, scope is openid, grant_types authorization_code, and no
    post-logout redirect URI is left."""
    body = registered(client, post_logout_redirect_uris=["https://dyn.example.com/bye"])
    only_required = {"redirect_uris": METADATA["redirect_uris"]}

    response = put(client, body, only_required)

    assert response.status_code == 200, response.data
    updated = response.get_json()
    nameless = registered(client, metadata=only_required)
    assert registered_metadata(updated) == {
        **registered_metadata(nameless),
        "registration_client_uri": body["registration_client_uri"],
    }
    assert updated["client_name"] == "Unnamed application"
    assert updated["scope"] == "openid"
    assert updated["grant_types"] == ["authorization_code"]
    assert updated["post_logout_redirect_uris"] == []
    read = manage(client, body).get_json()
    assert registered_metadata(read) == registered_metadata(updated)
    # What people see is what a nameless registration shows, and the old scopes are gone.
    login(client, user.email, user.password)
    app_client = ClientInfo(
        0, body["client_id"], body["client_secret"], METADATA["redirect_uris"][0], ""
    )
    page = client.get(authorize_url(app_client, scope="openid")).get_data(as_text=True)
    assert '<span class="app-name">Unnamed application</span> wants to access' in page
    assert "Dynamic App" not in page
    refused = client.get(authorize_url(app_client, scope="openid profile"))
    assert "error=invalid_scope" in refused.headers["Location"]


def test_null_in_an_update_is_a_field_left_out(client):
    """Omitted fields MUST be treated as null or empty values — RFC 7592 §2.2: a client that
    sends null to delete a field gets what leaving it out gets, not an error."""
    body = registered(client, post_logout_redirect_uris=["https://dyn.example.com/bye"])

    response = put(
        client,
        body,
        {**METADATA, "client_name": None, "scope": None, "post_logout_redirect_uris": None},
    )

    assert response.status_code == 200, response.data
    read = manage(client, body).get_json()
    assert read["client_name"] == "Unnamed application"
    assert read["scope"] == "openid"
    assert read["post_logout_redirect_uris"] == []


@pytest.mark.parametrize("left_out", ["redirect_uris", "grant_types"])
def test_an_update_without_its_required_redirect_uris_is_invalid_client_metadata(client, left_out):
    """Clients using flows with redirection MUST register their redirection URI values —
    RFC 7591 §2; an update that leaves them out (or leaves out grant_types, whose default is
    authorization_code) asks for a registration the server cannot make: invalid_client_metadata
    (RFC 7592 §2.2, RFC 7591 §3.2.2), and nothing changes."""
    body = registered(
        client,
        grant_types=["client_credentials"],
        redirect_uris=[],
        response_types=[],
        scope="events:read",
    )
    metadata = {"client_name": "Dynamic App", "grant_types": ["authorization_code"]}
    if left_out == "grant_types":
        metadata = {"client_name": "Dynamic App"}
    before = manage(client, body).get_json()

    assert_oauth_error(put(client, body, metadata), "invalid_client_metadata")

    assert manage(client, body).get_json() == before


def test_an_update_must_name_this_client(client):
    """The client MUST include its client_id field in the request, and it MUST be the same as
    its currently issued client identifier — RFC 7592 §2.2."""
    body = registered(client)
    other = registered(client, client_name="Second")
    payload = {**METADATA, "client_id": other["client_id"], "client_name": "Hijacked"}

    assert_oauth_error(manage(client, body, "PUT", json=payload), "invalid_request")

    assert manage(client, body).get_json()["client_name"] == "Dynamic App"
    assert manage(client, other).get_json()["client_name"] == "Second"


def test_a_client_secret_in_an_update_must_be_the_current_one(app, client):
    """If the client includes the client_secret field in the request, the value of this field
    MUST match the currently issued client secret for that client — RFC 7592 §2.2: not a wrong
    one, and not the previous one still in its grace period after a rotation."""
    from authserver.extensions import db
    from authserver.services import clients, operator

    body = registered(client)
    with app.app_context():
        row = clients.find_client(body["client_id"])
        current = operator.rotate_secret(row, grace_seconds=3600)
        db.session.commit()

    for secret in ("wrong", body["client_secret"]):
        payload = {**METADATA, "client_secret": secret, "client_name": "Changed"}
        assert_oauth_error(put(client, body, payload), "invalid_request")
        assert manage(client, body).get_json()["client_name"] == "Dynamic App"
    response = put(client, body, {**METADATA, "client_secret": current, "client_name": "Changed"})
    assert response.status_code == 200, response.data
    assert response.get_json()["client_name"] == "Changed"
    assert "client_secret" not in response.get_json()


@pytest.mark.parametrize(
    ("registered_as", "asked"),
    [("client_secret_basic", "none"), ("none", "client_secret_basic")],
)
def test_an_update_cannot_turn_a_client_public_or_confidential(client, registered_as, asked):
    """token_endpoint_auth_method — RFC 7591 §2: a public client has no secret to authenticate
    with and a confidential one has one the server will not drop silently; the update is
    invalid_client_metadata (RFC 7592 §2.2) and the registration stays as it was."""
    body = registered(client, token_endpoint_auth_method=registered_as)
    payload = {**METADATA, "token_endpoint_auth_method": asked}

    assert_oauth_error(put(client, body, payload), "invalid_client_metadata")

    assert manage(client, body).get_json()["token_endpoint_auth_method"] == registered_as


def test_a_confidential_client_may_name_either_secret_method_in_an_update(client):
    body = registered(client)
    response = put(client, body, {**METADATA, "token_endpoint_auth_method": "client_secret_post"})
    assert response.status_code == 200, response.data
    assert response.get_json()["token_endpoint_auth_method"] == "client_secret_basic"


def _verify(app, client_id: str) -> None:
    from authserver.extensions import db
    from authserver.services import clients

    with app.app_context():
        clients.verify_client(clients.find_client(client_id))
        db.session.commit()


def _verified(app, client_id: str) -> bool:
    from authserver.services import clients

    with app.app_context():
        return clients.find_client(client_id).verified


@pytest.mark.parametrize(
    ("change", "keeps_mark"),
    [
        ({"client_name": "Google Drive"}, False),
        ({"client_name": None}, False),  # left out: "Unnamed application"
        ({"redirect_uris": ["https://drive.attacker.example/cb"]}, False),
        ({"scope": "openid"}, True),
        ({"grant_types": ["authorization_code"]}, True),
        ({"post_logout_redirect_uris": ["https://dyn.example.com/bye"]}, True),
        ({}, True),
    ],
    ids=["renamed", "name-left-out", "redirect-uris", "scope", "grant-types", "logout", "same"],
)
def test_an_update_of_name_or_redirect_uris_drops_the_operators_verified_mark(
    app, client, change, keeps_mark
):
    """The operator verified an app by its name and where it sends people; a registration
    changed in either is not what was verified (the consent page marks it Not verified again)."""
    body = registered(client)
    _verify(app, body["client_id"])

    response = put(client, body, {**METADATA, **change})

    assert response.status_code == 200, response.data
    assert _verified(app, body["client_id"]) is keeps_mark


def test_delete_removes_the_client(client, user):
    """A successful delete action will invalidate the client_id, client_secret, and registration
    access token for this client — RFC 7592 §2.3; 204 No Content."""
    body = registered(client)
    response = manage(client, body, "DELETE")
    assert response.status_code == 204
    assert_invalid_token(manage(client, body))
    # The client is gone: its credentials no longer work anywhere.
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(body["client_id"], body["client_secret"]),
    )
    assert_oauth_error(token, "invalid_client", status=401)
    login(client, user.email, user.password)
    app_client = ClientInfo(0, body["client_id"], None, METADATA["redirect_uris"][0], "")
    page = client.get(authorize_url(app_client))
    assert page.status_code == 400 and "Location" not in page.headers


def test_registration_access_token_is_not_an_access_token(client):
    """The registration access token only manages the registration (RFC 7592 §1): it is no
    Bearer token for UserInfo."""
    body = registered(client)
    response = client.get(
        "/oauth/userinfo",
        headers={"Authorization": f"Bearer {body['registration_access_token']}"},
    )
    assert response.status_code == 401


def test_registered_clients_are_listed_nowhere_by_default(client, user):
    """A registered client has no owner: it appears in no developer's console."""
    registered(client)
    login(client, user.email, user.password)
    page = client.get("/console/")
    assert page.status_code == 200
    assert "Dynamic App" not in page.get_data(as_text=True)


def test_a_code_from_a_registered_client_is_bound_to_it(client, user):
    """RFC 6749 §4.1.3: a code issued to one registered client is invalid_grant for another."""
    first = registered(client)
    second = registered(client, client_name="Second")
    login(client, user.email, user.password)
    app_client = ClientInfo(
        0, first["client_id"], first["client_secret"], METADATA["redirect_uris"][0], ""
    )
    code, _ = get_code(client, app_client, scope="openid")
    thief = ClientInfo(
        0, second["client_id"], second["client_secret"], METADATA["redirect_uris"][0], ""
    )
    assert_oauth_error(exchange_code(client, thief, code), "invalid_grant")
    assert exchange_code(client, app_client, code).status_code == 200
