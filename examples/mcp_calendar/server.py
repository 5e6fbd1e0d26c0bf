"""The MCP server: the person's calendar as tools, over streamable HTTP at the URL's path.

Auth is the SDK's (``AuthSettings`` + our ``TokenVerifier``): a request without a valid token
for this server is 401 with ``resource_metadata``, one without ``events:read`` is 403
``insufficient_scope``. Each tool's scope is in ``TOOL_SCOPES``: a call of a tool whose scope
the token lacks is 403 ``insufficient_scope`` naming it (``scope_challenge.py``, so clients can
step up), and the tool checks it again before it calls the API with a token exchanged for
exactly that scope — never the one it received.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx2
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import ToolAnnotations
from pydantic import AnyHttpUrl, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .calendar_api import ApiProblem, CalendarApi
from .config import WELL_KNOWN, Settings
from .exchange import ExchangeRefused, TokenExchanger
from .issuer import Issuer, IssuerUnavailable
from .scope_challenge import ScopeChallenge
from .tokens import JwtAccessTokenVerifier

READ = "events:read"
WRITE = "events:write"
#: What tokens for this server are asked with (RFC 9728 ``scopes_supported``).
SCOPES = [READ, WRITE]
#: The scope each tool needs (a test holds it to the tools registered).
TOOL_SCOPES = {
    "list_events": READ,
    "get_event": READ,
    "create_event": WRITE,
    "update_event": WRITE,
    "delete_event": WRITE,
}

Instant = Annotated[str, Field(description="RFC 3339 date and time, e.g. 2026-12-24T18:00:00Z")]


class Calendar:
    """The tools' one path to the API: scope check, token exchange, call."""

    def __init__(self, exchanger: TokenExchanger, api: CalendarApi) -> None:
        self.exchanger = exchanger
        self.api = api

    async def call(self, tool: str, method: str, path: str, **kwargs: Any) -> Any:
        scope = TOOL_SCOPES[tool]
        received = get_access_token()
        if received is None:  # the SDK lets no unauthenticated request reach a tool
            raise ToolError("not signed in")
        if scope not in received.scopes:
            raise ToolError(
                f"insufficient_scope: this tool needs the {scope} scope, which the person did "
                "not grant to this client; authorize again asking for it"
            )
        try:
            token = await self.exchanger.token_for(received.token, received.expires_at, scope)
            return await self.api.call(method, path, token, **kwargs)
        except ExchangeRefused as refused:
            message = f"the authorization server refused a token for the API: {refused}"
            raise ToolError(message) from None
        except (ApiProblem, IssuerUnavailable) as problem:
            raise ToolError(str(problem)) from None


def build_server(
    settings: Settings, calendar: Calendar, verifier: JwtAccessTokenVerifier
) -> MCPServer:
    server: MCPServer = MCPServer(
        name="Calendar",
        instructions="The signed-in person's calendar events: list, read, create, change, delete.",
        token_verifier=verifier,
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(settings.issuer),
            resource_server_url=AnyHttpUrl(settings.url),
            # Every tool reads or writes the calendar: without events:read there is nothing
            # to do here (the SDK answers 403 insufficient_scope).
            required_scopes=[READ],
            validate_token_resource=True,
        ),
    )

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def list_events(
        limit: Annotated[int, Field(ge=1, le=100)] = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """The person's events in start order; pass next_cursor back as cursor for more."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        result: dict[str, Any] = await calendar.call(
            "list_events", "GET", "/api/events", params=params
        )
        return result

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def get_event(event_id: int) -> dict[str, Any]:
        """One event by its id."""
        result: dict[str, Any] = await calendar.call("get_event", "GET", f"/api/events/{event_id}")
        return result

    @server.tool(annotations=ToolAnnotations(destructive_hint=False))
    async def create_event(
        title: str, starts_at: Instant, ends_at: Instant, description: str | None = None
    ) -> dict[str, Any]:
        """Add an event to the person's calendar."""
        body = {"title": title, "starts_at": starts_at, "ends_at": ends_at}
        if description is not None:
            body["description"] = description
        result: dict[str, Any] = await calendar.call(
            "create_event", "POST", "/api/events", json=body
        )
        return result

    @server.tool(annotations=ToolAnnotations(idempotent_hint=True))
    async def update_event(
        event_id: int,
        title: str | None = None,
        description: str | None = None,
        starts_at: Instant | None = None,
        ends_at: Instant | None = None,
    ) -> dict[str, Any]:
        """Change the given fields of an event; the others stay as they are."""
        given = {"title": title, "description": description}
        given |= {"starts_at": starts_at, "ends_at": ends_at}
        changes = {name: value for name, value in given.items() if value is not None}
        if not changes:
            raise ToolError("nothing to change: give at least one field")
        path = f"/api/events/{event_id}"
        result: dict[str, Any] = await calendar.call("update_event", "PATCH", path, json=changes)
        return result

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    async def delete_event(event_id: int) -> str:
        """Delete an event."""
        await calendar.call("delete_event", "DELETE", f"/api/events/{event_id}")
        return f"Event {event_id} deleted."

    return server


def protected_resource_metadata(settings: Settings) -> dict[str, Any]:
    """RFC 9728 §2: this server as a protected resource, and who issues its tokens."""
    return {
        "resource": settings.url,
        "authorization_servers": [settings.issuer],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "Calendar (MCP)",
    }


def create_app(settings: Settings, http: httpx2.AsyncClient | None = None) -> ASGIApp:
    """The ASGI app: the MCP endpoint at the URL's path and its RFC 9728 metadata."""
    http = http or httpx2.AsyncClient(timeout=settings.http_timeout, follow_redirects=False)
    issuer = Issuer(settings, http)
    verifier = JwtAccessTokenVerifier(settings, issuer)
    calendar = Calendar(TokenExchanger(settings, issuer, http), CalendarApi(settings, http))
    server = build_server(settings, calendar, verifier)
    path = urlsplit(settings.url).path or "/"
    app = server.streamable_http_app(
        streamable_http_path=path,
        # Stateless: each POST stands alone (any worker may answer it, and the tool sees the
        # token of the request that called it); answers are plain JSON.
        stateless_http=True,
        json_response=True,
        # The URL's host, not the bound one: the SDK turns its loopback DNS-rebinding guard
        # on by this name, and a 0.0.0.0 bind would turn it off.
        host=urlsplit(settings.url).hostname or "",
        transport_security=_transport_security(settings),
    )

    async def metadata(request: Request) -> Response:
        return JSONResponse(
            protected_resource_metadata(settings),
            headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
        )

    # The SDK serves the path-aware document with only AuthSettings.required_scopes as
    # scopes_supported, and not the plain one; ours, first, list every scope the tools use,
    # which MCP clients ask for (no hook sets the SDK's scopes_supported apart from required).
    app.router.routes[0:0] = [
        Route(WELL_KNOWN, metadata, methods=["GET"]),
        Route(urlsplit(settings.resource_metadata_url).path, metadata, methods=["GET"]),
    ]
    # Browser-based MCP clients (the Inspector's page) call /mcp from their own origin with a
    # bearer token, never a cookie, so any origin may; the SDK's DNS-rebinding guard still
    # checks Host and Origin. They must read the 401's challenge to find the metadata.
    return CORSMiddleware(
        ScopeChallenge(app, settings, verifier, TOOL_SCOPES, path),
        allow_origins=["*"],
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version"],
        expose_headers=["WWW-Authenticate", "Mcp-Session-Id"],
        max_age=600,
    )


def _transport_security(settings: Settings) -> TransportSecuritySettings | None:
    """DNS rebinding protection: the SDK's own for loopback; else the URL's host only."""
    parts = urlsplit(settings.url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    return TransportSecuritySettings(
        allowed_hosts=[parts.netloc], allowed_origins=[f"{parts.scheme}://{parts.netloc}"]
    )
