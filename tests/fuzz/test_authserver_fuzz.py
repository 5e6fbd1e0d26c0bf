"""Generated junk at every endpoint and form of the authorization server: never a 5xx, and a
refused request (4xx) changes no row of any table (SPEC: Policy, "Bad input of any kind gets a
4xx ..., never a 5xx, and changes nothing").

Each test gets one app (SQLite, or PostgreSQL with AUTHSERVER_DATABASE_URL) with a user, a
confidential, a public and a service client, tokens and a logged-in session, and sends every
generated request from a fresh browser that is logged in or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from authserver.extensions import db
from authserver.models import Base
from tests import factories
from tests.helpers import csrf_token, get_code, login, user_tokens

from .strategies import (
    CONTROL,
    basic_header,
    bearer_header,
    form_body,
    fuzz_settings,
    header_text,
    json_body,
    json_values,
    jwt_shaped,
    pairs,
    path_segment,
    plausible,
    send,
    table_digests,
)


@pytest.fixture
def app_config() -> dict:
    # Registration is off by default; the fuzz covers /oauth/register too.
    return {"REGISTRATION_ENABLED": True}


@dataclass
class World:
    app: Flask
    snapshot: Callable[[], dict[str, str]]
    user: factories.UserInfo
    confidential: factories.ClientInfo
    public: factories.ClientInfo
    service: factories.ClientInfo
    resource_server: factories.ClientInfo
    session: dict[str, Any]
    csrf: str
    access_token: str
    refresh_token: str
    id_token: str
    code: str
    service_token: str
    registered_id: str
    registration_token: str

    def browser(self, logged_in: bool) -> FlaskClient:
        """A new browser; logged in as the user, or only holding the session's CSRF token (so
        the form token ``csrf`` is valid either way)."""
        http = self.app.test_client()
        state = self.session if logged_in else {"csrf_token": self.session["csrf_token"]}
        with http.session_transaction() as session:
            session.update(state)
        return http

    def send(self, http: FlaskClient, method: str, path: str, **kwargs: Any) -> Any:
        return send(http, self.snapshot, method, path, **kwargs)

    def client_ids(self) -> tuple[str, ...]:
        return (
            self.confidential.client_id,
            self.public.client_id,
            self.service.client_id,
            self.registered_id,
        )


@pytest.fixture
def world(app: Flask, user: factories.UserInfo, client: FlaskClient) -> World:
    with app.app_context():
        confidential = factories.make_client(owner_email=user.email)
        public = factories.make_client(owner_email=user.email, public=True)
        service = factories.make_service_client(
            scope="events:read events:write", owner_email=user.email
        )
        resource_server = factories.make_service_client(
            name="Resource API", can_introspect_any=True
        )
    login(client, user.email, user.password)
    tokens = user_tokens(client, confidential, scope=factories.ALL_SCOPES, nonce="n-1")
    code, _ = get_code(client, confidential, scope="openid profile")
    service_token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "events:read"},
        headers=_basic(service.client_id, service.secret),
    ).get_json()["access_token"]
    registered = client.post(
        "/oauth/register",
        json={"redirect_uris": ["https://dyn.example.com/cb"], "client_name": "Dynamic"},
    )
    assert registered.status_code == 201, registered.data
    csrf = csrf_token(client.get("/account/apps").data)
    with client.session_transaction() as session:
        saved = dict(session)

    # The audit record is the one table a refusal may write to: refused token and authorization
    # requests of a registered client are recorded for its developer (services/audit.py). The
    # throttling counters are bookkeeping of who asked, refused or not (authserver/throttling.py).
    bookkeeping = ("audit_events", "rate_limit_counters")
    watched = [t for t in Base.metadata.sorted_tables if t.name not in bookkeeping]

    def snapshot() -> dict[str, str]:
        with app.app_context(), db.engine.connect() as connection:
            return table_digests(connection, watched)

    return World(
        app=app,
        snapshot=snapshot,
        user=user,
        confidential=confidential,
        public=public,
        service=service,
        resource_server=resource_server,
        session=saved,
        csrf=csrf,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        id_token=tokens["id_token"],
        code=code,
        service_token=service_token,
        registered_id=registered.get_json()["client_id"],
        registration_token=registered.get_json()["registration_access_token"],
    )


def _basic(client_id: str, secret: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


SCOPES = plausible(
    "openid",
    "openid profile email",
    "events:read",
    "offline_access openid events:read events:write",
    "openid\x00",
    "openid\tprofile",
    "openid\x0bprofile",
    "openid\x1fprofile",
    "openid\u3000profile",
    "openid  profile",
    " openid ",
)
ORIGIN = plausible("https://app.example.com", "null", "https://evil.example")
CSRF = "VALIDCSRFTOKENPLACEHOLDER"  # replaced by the world's valid form token


def with_csrf(world: World, body: bytes) -> bytes:
    return body.replace(CSRF.encode(), world.csrf.encode())


# -- authorization endpoint ------------------------------------------------------------------


def authorize_query(world_ids: st.SearchStrategy) -> st.SearchStrategy:
    return pairs(
        {
            "response_type": plausible("code", "token", "id_token", "code id_token", "none"),
            "client_id": world_ids,
            "redirect_uri": plausible(factories.REDIRECT_URI, "https://app.example.com/other"),
            "scope": SCOPES,
            "state": plausible("state-1"),
            "nonce": plausible("n-1", "\x00"),
            "prompt": plausible("none", "login", "consent", "none login", "select_account"),
            "max_age": plausible("0", "60", "9" * 20, "9" * 5000, "-1", "١"),
            "code_challenge": plausible("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            "code_challenge_method": plausible("S256", "plain"),
            "response_mode": plausible("query", "fragment", "form_post"),
            "id_token_hint": jwt_shaped,
            "claims": json_values.map(str),
            "ui_locales": plausible("en"),
        }
    )


@given(data=st.data())
@fuzz_settings(120)
def test_authorize(world: World, data: st.DataObject) -> None:
    ids = st.sampled_from(world.client_ids())
    logged_in = data.draw(st.booleans(), "logged_in")
    method = data.draw(st.sampled_from(["GET", "GET", "POST"]), "method")
    query = data.draw(authorize_query(ids | plausible()), "query")
    body, content_type = None, None
    if method == "POST":
        body, content_type = data.draw(
            form_body(
                {
                    "csrf_token": plausible(CSRF),
                    "decision": plausible("allow", "deny"),
                    "scope": SCOPES,
                }
            ),
            "consent form",
        )
        body = with_csrf(world, body)
    http = world.browser(logged_in)
    world.send(
        http,
        method,
        "/oauth/authorize",
        query=_encode(query),
        body=body,
        content_type=content_type,
    )


def _encode(items: list) -> bytes:
    from .strategies import encode_pairs

    return encode_pairs(items)


# -- token, revocation, introspection --------------------------------------------------------


def client_auth(world: World) -> st.SearchStrategy:
    credentials = (
        (world.confidential.client_id, world.confidential.secret),
        (world.service.client_id, world.service.secret),
        (world.resource_server.client_id, world.resource_server.secret),
    )
    return st.none() | basic_header(*credentials) | bearer_header() | header_text


@given(data=st.data())
@fuzz_settings(150)
def test_token(world: World, data: st.DataObject) -> None:
    ids = st.sampled_from(world.client_ids())
    body, content_type = data.draw(
        form_body(
            {
                "grant_type": plausible(
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                    "password",
                    "implicit",
                    "urn:ietf:params:oauth:grant-type:device_code",
                ),
                "code": plausible(world.code),
                "redirect_uri": plausible(factories.REDIRECT_URI),
                "code_verifier": plausible("a" * 43, "a" * 128),
                "refresh_token": plausible(world.refresh_token),
                "scope": SCOPES,
                "client_id": ids | plausible(),
                "client_secret": plausible(world.confidential.secret, world.service.secret),
                "client_assertion_type": plausible(
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                ),
                "client_assertion": jwt_shaped,
            }
        ),
        "body",
    )
    headers = {
        "Authorization": data.draw(client_auth(world), "authorization"),
        "Origin": data.draw(maybe(ORIGIN.filter(lambda v: isinstance(v, str))), "origin"),
    }
    # RFC 6749 §4.1.2 and §10.4 / SPEC: replaying a used code or rotated refresh token is refused
    # *and* revokes what it had issued -- the one refusal that must change rows.
    replay = world.code.encode() in body or world.refresh_token.encode() in body
    world.send(
        world.browser(False),
        "POST",
        "/oauth/token",
        body=body,
        content_type=content_type,
        headers=_latin1(headers),
        allow_change=replay,
    )


def _latin1(headers: dict[str, Any]) -> dict[str, str]:
    """Only values a WSGI server could hand over (latin-1 text without newlines)."""
    result = {}
    for name, value in headers.items():
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if value is None:
            continue
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            value = value.encode("utf-8").decode("latin-1")
        result[name] = value.replace("\r", " ").replace("\n", " ")
    return result


@given(data=st.data())
@fuzz_settings(120)
def test_revoke_and_introspect(world: World, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(["/oauth/revoke", "/oauth/introspect"]), "path")
    tokens = (world.access_token, world.refresh_token, world.service_token, world.id_token)
    body, content_type = data.draw(
        form_body(
            {
                "token": plausible(*tokens) | jwt_shaped,
                "token_type_hint": plausible("access_token", "refresh_token", "id_token"),
                "client_id": st.sampled_from(world.client_ids()) | plausible(),
                "client_secret": plausible(world.confidential.secret),
            }
        ),
        "body",
    )
    headers = {"Authorization": data.draw(client_auth(world), "authorization")}
    world.send(
        world.browser(False),
        "POST",
        path,
        body=body,
        content_type=content_type,
        headers=_latin1(headers),
    )


# -- userinfo, logout ------------------------------------------------------------------------


@given(data=st.data())
@fuzz_settings(100)
def test_userinfo(world: World, data: st.DataObject) -> None:
    tokens = (world.access_token, world.service_token, world.id_token, world.refresh_token)
    method = data.draw(st.sampled_from(["GET", "POST"]), "method")
    headers = {"Authorization": data.draw(maybe(bearer_header(*tokens)), "authorization")}
    body, content_type = None, None
    if method == "POST":
        body, content_type = data.draw(
            form_body({"access_token": plausible(*tokens) | jwt_shaped}), "body"
        )
    query = data.draw(pairs({"access_token": plausible(*tokens)}) | st.just([]), "query")
    world.send(
        world.browser(False),
        method,
        "/oauth/userinfo",
        query=_encode(query),
        body=body,
        content_type=content_type,
        headers=_latin1(headers),
    )


@given(data=st.data())
@fuzz_settings(100)
def test_end_session(world: World, data: st.DataObject) -> None:
    fields = {
        "id_token_hint": plausible(world.id_token, world.access_token) | jwt_shaped,
        "client_id": st.sampled_from(world.client_ids()) | plausible(),
        "post_logout_redirect_uri": plausible(factories.REDIRECT_URI, "https://evil.example/"),
        "state": plausible("s"),
        "ui_locales": plausible("en"),
        "logout_hint": plausible(),
    }
    method = data.draw(st.sampled_from(["GET", "POST"]), "method")
    logged_in = data.draw(st.booleans(), "logged_in")
    query = data.draw(pairs(fields), "query") if method == "GET" else []
    body, content_type = None, None
    if method == "POST":
        body, content_type = data.draw(
            form_body(
                {
                    **fields,
                    "csrf_token": plausible(CSRF),
                    "confirm": plausible("yes", "no"),
                    "revoke_tokens": plausible("y", "on"),
                }
            ),
            "body",
        )
        body = with_csrf(world, body)
    world.send(
        world.browser(logged_in),
        method,
        "/oauth/logout",
        query=_encode(query),
        body=body,
        content_type=content_type,
    )


# -- dynamic client registration -------------------------------------------------------------

registration_metadata = st.fixed_dictionaries(
    {},
    optional={
        name: st.sampled_from(good) | json_values
        for name, good in {
            "redirect_uris": (["https://dyn.example.com/cb"], ["http://127.0.0.1/cb"], []),
            "post_logout_redirect_uris": (["https://dyn.example.com/bye"],),
            "client_name": ("Dynamic",),
            "grant_types": (["authorization_code", "refresh_token"], ["client_credentials"]),
            "response_types": (["code"],),
            "scope": ("openid profile", "openid\x00", "events:read\tprofile"),
            "token_endpoint_auth_method": ("none", "client_secret_basic", "private_key_jwt"),
            "client_uri": ("https://dyn.example.com",),
            "logo_uri": ("https://dyn.example.com/logo.png",),
            "contacts": (["a@example.com"],),
            "jwks_uri": ("https://dyn.example.com/jwks",),
            "jwks": ({"keys": []},),
            "software_id": ("x",),
            "client_id": ("chosen",),
        }.items()
    },
)


@given(data=st.data())
@fuzz_settings(120)
def test_registration(world: World, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(["register", "register", "configure"]), "target")
    content_type = data.draw(
        plausible("application/json", "application/json; charset=utf-8", "text/plain")
        .filter(lambda v: isinstance(v, str))
        .map(lambda v: v.replace("\r", "").replace("\n", "")),
        "content type",
    )
    body = data.draw(json_body(registration_metadata), "body")
    headers = {
        "Authorization": data.draw(
            maybe(bearer_header(world.registration_token, world.access_token)), "authorization"
        )
    }
    if target == "register":
        method, path = "POST", "/oauth/register"
    else:
        method = data.draw(st.sampled_from(["GET", "PUT", "DELETE"]), "method")
        segment = data.draw(path_segment(world.registered_id, world.confidential.client_id))
        path = f"/oauth/register/{segment}"
    world.send(
        world.browser(False),
        method,
        path,
        body=body if method in ("POST", "PUT") else None,
        content_type=_latin1({"c": content_type}).get("c"),
        headers=_latin1(headers),
    )


# -- accounts and console --------------------------------------------------------------------


@given(data=st.data())
@fuzz_settings(120)
def test_account_forms(world: World, data: st.DataObject) -> None:
    page = data.draw(
        st.sampled_from(["login", "signup", "logout", "index", "apps", "revoke", "revoke-scope"]),
        "page",
    )
    logged_in = data.draw(st.booleans(), "logged_in")
    method = data.draw(st.sampled_from(["GET", "POST", "POST"]), "method")
    fields = {
        "csrf_token": plausible(CSRF),
        "email": plausible(world.user.email, "new@example.com", "a\x00@example.com", "x@y"),
        "password": plausible(world.user.password, "long enough password"),
        "name": plausible("Ada"),
        "revoke_tokens": plausible("y"),
        "everywhere": plausible("y"),
        "scope": plausible("openid", "events:read", "nope", "\x00"),
    }
    path = {
        "login": "/login",
        "signup": "/signup",
        "logout": "/logout",
        "index": "/",
        "apps": "/account/apps",
    }.get(page)
    if path is None:
        segment = data.draw(path_segment(*world.client_ids()), "client id")
        path = f"/account/apps/{segment}/{page}"
    query = data.draw(pairs({"next": plausible("/account/apps", "//evil.example", "/\\x")}))
    body, content_type = None, None
    if method == "POST":
        body, content_type = data.draw(form_body(fields), "body")
        body = with_csrf(world, body)
    world.send(
        world.browser(logged_in),
        method,
        path,
        query=_encode(query),
        body=body,
        content_type=content_type,
    )


@given(data=st.data())
@fuzz_settings(100)
def test_console(world: World, data: st.DataObject) -> None:
    segment = data.draw(path_segment(world.confidential.client_id, world.public.client_id))
    method, path = data.draw(
        st.sampled_from(
            [
                ("GET", "/console/"),
                ("GET", "/console/clients/new"),
                ("POST", "/console/clients/new"),
                ("GET", f"/console/clients/{segment}"),
                ("GET", f"/console/clients/{segment}/edit"),
                ("POST", f"/console/clients/{segment}/edit"),
                ("GET", f"/console/clients/{segment}/rotate-secret"),
                ("POST", f"/console/clients/{segment}/rotate-secret"),
                ("GET", f"/console/clients/{segment}/delete"),
                ("POST", f"/console/clients/{segment}/delete"),
            ]
        ),
        "request",
    )
    uris = plausible(
        "https://app.example.com/callback",
        "http://127.0.0.1:8765/cb\nhttps://b.example/cb",
        "https://a.example/\x00",
        "http://evil.example/cb",
    )
    body, content_type = None, None
    if method == "POST":
        body, content_type = data.draw(
            form_body(
                {
                    "csrf_token": plausible(CSRF),
                    "name": plausible("App"),
                    "redirect_uris": uris,
                    "post_logout_redirect_uris": uris,
                    "scopes": plausible("openid", "events:read", "nope"),
                    "grant_types": plausible("authorization_code", "client_credentials", "x"),
                    "client_type": plausible("confidential", "public"),
                }
            ),
            "body",
        )
        body = with_csrf(world, body)
    world.send(
        world.browser(data.draw(st.booleans(), "logged_in")),
        method,
        path,
        body=body,
        content_type=content_type,
    )


@given(data=st.data())
@fuzz_settings(60)
def test_metadata_and_unknown_requests(world: World, data: st.DataObject) -> None:
    path = data.draw(
        st.sampled_from(
            [
                "/.well-known/openid-configuration",
                "/.well-known/oauth-authorization-server",
                "/oauth/jwks",
                "/healthz",
                "/readyz",
                "/oauth/token",
                "/oauth/authorize",
                "/oauth/register",
            ]
        )
        | path_segment().map(lambda s: "/" + s)
        | path_segment().map(lambda s: "/oauth/" + s),
        "path",
    )
    method = data.draw(
        st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "TRACE"]),
        "method",
    )
    headers = {
        "Origin": data.draw(maybe(header_text), "origin"),
        "Accept": data.draw(maybe(header_text), "accept"),
        "Cookie": data.draw(maybe(header_text.map(lambda v: f"authserver_session={v}")), "cookie"),
        "Access-Control-Request-Method": data.draw(maybe(header_text), "preflight"),
        "X-Forwarded-For": data.draw(maybe(header_text), "forwarded"),
        "Host": data.draw(maybe(st.text(CONTROL | st.characters(max_codepoint=0x7E))), "host"),
    }
    query = data.draw(pairs({}), "query")
    world.send(world.browser(False), method, path, query=_encode(query), headers=_latin1(headers))
