"""The MCP server example's own rules, without other processes: which tokens it accepts
(RFC 9068, its own audience), how it caches exchanged tokens, and its settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from mcp.server.auth.provider import AccessToken

from examples.mcp_calendar.config import ConfigError, Settings, load_settings
from examples.mcp_calendar.exchange import ExchangeRefused, TokenExchanger
from examples.mcp_calendar.issuer import Issuer
from examples.mcp_calendar.scope_challenge import ScopeChallenge
from examples.mcp_calendar.server import TOOL_SCOPES, build_server
from examples.mcp_calendar.tokens import JwtAccessTokenVerifier

ISSUER = "http://issuer.test"
MCP_URL = "http://mcp.test/mcp"
API = "http://api.test"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
NOW = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def settings() -> Settings:
    return Settings(
        issuer=ISSUER,
        url=MCP_URL,
        api_url=API,
        api_audience=API,
        client_id="mcp-calendar",
        client_secret="s3cret",
        bind="127.0.0.1:5003",
    )


def issuer_transport(handle_token: Callable[[httpx2.Request], httpx2.Response]) -> Any:
    """The issuer's metadata, JWKS and token endpoint, answered in memory."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/.well-known/oauth-authorization-server":
            return httpx2.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "jwks_uri": f"{ISSUER}/jwks",
                    "token_endpoint": f"{ISSUER}/oauth/token",
                },
            )
        if path == "/jwks":
            return httpx2.Response(200, json=KeySet([KEY]).as_dict(private=False))
        if path == "/oauth/token":
            return handle_token(request)
        return httpx2.Response(404)

    return httpx2.MockTransport(handle)


def token(header: dict | None = None, key: Any = KEY, **claims: Any) -> str:
    body = {
        "iss": ISSUER,
        "aud": MCP_URL,
        "sub": "person-1",
        "client_id": "an-mcp-client",
        "scope": "events:read events:write",
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "j1",
        **claims,
    }
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": "k1", **(header or {})}, body, key)


def verify(value: str) -> Any:
    async def run() -> Any:
        clock = Clock()
        http = httpx2.AsyncClient(transport=issuer_transport(lambda r: httpx2.Response(500)))
        verifier = JwtAccessTokenVerifier(settings(), Issuer(settings(), http, clock), clock)
        return await verifier.verify_token(value)

    return anyio.run(run)


def test_a_jwt_access_token_for_this_server_is_accepted_with_its_scopes():
    accepted = verify(token())
    assert accepted is not None
    assert accepted.scopes == ["events:read", "events:write"]
    assert accepted.resource == MCP_URL
    assert accepted.subject == "person-1"
    assert accepted.client_id == "an-mcp-client"
    assert accepted.expires_at == NOW + 600


def test_an_audience_list_naming_this_server_is_accepted():
    assert verify(token(aud=[API, MCP_URL])) is not None


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: token(aud=API), id="a token for the API"),
        pytest.param(lambda: token(iss="http://other.test"), id="another issuer"),
        pytest.param(lambda: token(exp=NOW - 3600), id="expired"),
        pytest.param(lambda: token(header={"typ": "JWT"}), id="an ID token's typ"),
        pytest.param(lambda: token(client_id=None), id="no client_id"),
        pytest.param(lambda: token(sub=None), id="no sub"),
        pytest.param(
            lambda: jwt.encode(
                {"alg": "HS256", "typ": "at+jwt", "kid": "k1"},
                {"iss": ISSUER, "aud": MCP_URL, "exp": NOW + 600},
                OctKey.generate_key(256),
            ),
            id="HS256",
        ),
        pytest.param(
            lambda: token(key=RSAKey.generate_key(2048, parameters={"kid": "k1"})),
            id="signed by a key the issuer does not publish",
        ),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
    ],
)
def test_anything_else_is_refused(bad):
    assert verify(bad()) is None


def exchange_answer(requests: list[dict], expires_in: int = 600) -> Callable:
    def handle(request: httpx2.Request) -> httpx2.Response:
        form = dict(httpx2.QueryParams(request.content.decode()))
        requests.append({"form": form, "authorization": request.headers.get("Authorization")})
        return httpx2.Response(
            200,
            json={
                "access_token": f"exchanged-{len(requests)}",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": form["scope"],
            },
        )

    return handle


def test_token_exchange_asks_for_the_api_with_the_tool_scope_and_caches_until_near_expiry():
    sent: list[dict] = []
    clock = Clock()

    async def run() -> list[str]:
        http = httpx2.AsyncClient(transport=issuer_transport(exchange_answer(sent)))
        exchanger = TokenExchanger(settings(), Issuer(settings(), http, clock), http, clock)
        got = [await exchanger.token_for("received", NOW + 3600, "events:read")]
        got.append(await exchanger.token_for("received", NOW + 3600, "events:read"))
        got.append(await exchanger.token_for("received", NOW + 3600, "events:write"))
        clock.now += 600 - 30  # the leeway before the exchanged token's expiry
        got.append(await exchanger.token_for("received", NOW + 3600, "events:read"))
        return got

    got = anyio.run(run)
    assert got == ["exchanged-1", "exchanged-1", "exchanged-2", "exchanged-3"]
    form = sent[0]["form"]
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert form["subject_token"] == "received"
    assert form["subject_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert form["resource"] == API
    assert form["scope"] == "events:read"
    assert sent[0]["authorization"].startswith("Basic ")


def test_an_exchanged_token_is_not_used_past_the_token_it_was_made_from():
    sent: list[dict] = []
    clock = Clock()

    async def run() -> None:
        http = httpx2.AsyncClient(transport=issuer_transport(exchange_answer(sent)))
        exchanger = TokenExchanger(settings(), Issuer(settings(), http, clock), http, clock)
        await exchanger.token_for("received", NOW + 60, "events:read")
        clock.now += 61
        await exchanger.token_for("received", NOW + 60, "events:read")

    anyio.run(run)
    assert len(sent) == 2


def test_a_refused_exchange_says_the_issuers_error():
    def refuse(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            400, json={"error": "invalid_scope", "error_description": "Ask for less."}
        )

    async def run() -> None:
        http = httpx2.AsyncClient(transport=issuer_transport(refuse))
        exchanger = TokenExchanger(settings(), Issuer(settings(), http), http)
        await exchanger.token_for("received", None, "events:write")

    with pytest.raises(ExchangeRefused) as refused:
        anyio.run(run)
    assert refused.value.error == "invalid_scope"


def test_settings_need_the_client_secret_and_derive_the_bind_from_the_url(tmp_path):
    with pytest.raises(ConfigError, match="MCP_CALENDAR_CLIENT_SECRET"):
        load_settings({})
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    loaded = load_settings(
        {
            "MCP_CALENDAR_CLIENT_SECRET_FILE": str(secret_file),
            "MCP_CALENDAR_URL": "http://127.0.0.1:8003/mcp",
            "MCP_CALENDAR_API_URL": "http://127.0.0.1:8001/",
        }
    )
    assert loaded.client_secret == "from-a-file"
    assert loaded.host_and_port == ("127.0.0.1", 8003)
    assert loaded.api_audience == "http://127.0.0.1:8001"
    assert loaded.resource_metadata_url == (
        "http://127.0.0.1:8003/.well-known/oauth-protected-resource/mcp"
    )
    with pytest.raises(ConfigError, match="MCP_CALENDAR_URL"):
        load_settings({"MCP_CALENDAR_CLIENT_SECRET": "x", "MCP_CALENDAR_URL": "mcp.example"})


def test_the_verifier_fetches_the_metadata_and_the_key_set_once_for_many_tokens():
    transport = issuer_transport(lambda request: httpx2.Response(500))
    fetched: list[str] = []

    def counting(request: httpx2.Request) -> httpx2.Response:
        fetched.append(request.url.path)
        return transport.handler(request)

    async def run() -> None:
        clock = Clock()
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(counting))
        verifier = JwtAccessTokenVerifier(settings(), Issuer(settings(), http, clock), clock)
        for _ in range(3):
            assert await verifier.verify_token(token()) is not None

    anyio.run(run)
    assert sorted(fetched) == ["/.well-known/oauth-authorization-server", "/jwks"]


# --- the scope challenge ------------------------------------------------------------------------


class FakeVerifier:
    """Any token ``scopes:<space-separated>`` is valid with those scopes; others are not."""

    async def verify_token(self, value: str) -> AccessToken | None:
        if not value.startswith("scopes:"):
            return None
        return AccessToken(token=value, client_id="c", scopes=value[len("scopes:") :].split())


def challenged(token: str | None, body: object) -> tuple[httpx2.Response, list[bytes]]:
    """POST ``body`` to /mcp through the challenge; what it answered and what the app got."""
    reached: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        reached.append(message.get("body", b""))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guarded = ScopeChallenge(app, settings(), FakeVerifier(), TOOL_SCOPES, "/mcp")  # type: ignore[arg-type]

    async def run() -> httpx2.Response:
        transport = httpx2.ASGITransport(app=guarded)
        async with httpx2.AsyncClient(transport=transport, base_url="http://mcp.test") as http:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return await http.post("/mcp", content=_raw(body), headers=headers)

    return anyio.run(run), reached


def _raw(body: object) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def call(tool: str) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}


def test_a_write_tool_called_without_events_write_is_403_naming_the_scope():
    answer, reached = challenged("scopes:events:read", call("create_event"))
    assert answer.status_code == 403
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith(
        'Bearer error="insufficient_scope", scope="events:read events:write"'
    )
    assert f'resource_metadata="{settings().resource_metadata_url}"' in challenge
    assert reached == []  # the SDK never saw it


def test_a_batch_with_one_write_call_is_challenged_too():
    answer, reached = challenged("scopes:events:read", [call("list_events"), call("delete_event")])
    assert answer.status_code == 403
    assert reached == []


@pytest.mark.parametrize(
    ("token", "body"),
    [
        pytest.param("scopes:events:read events:write", call("create_event"), id="granted"),
        pytest.param("scopes:events:read", call("list_events"), id="a read tool"),
        pytest.param("scopes:events:read", {"method": "tools/list"}, id="not a call"),
        pytest.param(None, call("create_event"), id="no token: the SDK's 401"),
        pytest.param("forged", call("create_event"), id="invalid token: the SDK's 401"),
        pytest.param("scopes:events:read", b'{"method": "tools/call", ', id="junk: the SDK's 400"),
    ],
)
def test_everything_else_reaches_the_sdk_with_its_body_untouched(token, body):
    answer, reached = challenged(token, body)
    assert answer.status_code == 200
    assert reached == [_raw(body)]


def test_every_tool_has_a_scope_and_every_scope_a_tool():
    server = build_server(settings(), None, FakeVerifier())  # type: ignore[arg-type]
    tools = anyio.run(server.list_tools)
    assert {tool.name for tool in tools} == set(TOOL_SCOPES)


@pytest.mark.parametrize(
    "jwks_answer",
    [
        pytest.param(httpx2.Response(200, content=b"[" * (2 * 1024 * 1024)), id="oversized"),
        pytest.param(httpx2.Response(503), id="unavailable"),
        pytest.param(httpx2.Response(200, json={"keys": "none"}), id="not a key set"),
    ],
)
def test_a_broken_issuer_makes_tokens_unverifiable_not_accepted(jwks_answer):
    transport = issuer_transport(lambda request: httpx2.Response(500))

    def broken_jwks(request: httpx2.Request) -> httpx2.Response:
        return jwks_answer if request.url.path == "/jwks" else transport.handler(request)

    async def run() -> Any:
        clock = Clock()
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(broken_jwks))
        verifier = JwtAccessTokenVerifier(settings(), Issuer(settings(), http, clock), clock)
        return await verifier.verify_token(token())

    assert anyio.run(run) is None
