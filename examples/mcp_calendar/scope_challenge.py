"""MCP's scope challenge for one tool: a ``tools/call`` of a tool whose scope the token lacks
is answered ``403`` with ``WWW-Authenticate: Bearer error="insufficient_scope", scope=...``
(MCP authorization, "Scope challenge handling"; RFC 6750 §3.1), so that the client can ask the
person again for that scope (a step-up) instead of failing.

Hand-written ASGI because no SDK hook serves: ``AuthSettings.required_scopes`` is one list for
every request, and the SDK's per-message middleware answers inside a 200 JSON-RPC response. It
only reads: the request body is replayed untouched to the SDK, which still authenticates the
request and parses the message itself; anything it cannot read it leaves to the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Settings
from .tokens import JwtAccessTokenVerifier

#: Bodies above this are not inspected (the SDK refuses them anyway: 4 MiB by default).
MAX_INSPECTED_BODY = 4 * 1024 * 1024


class ScopeChallenge:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        verifier: JwtAccessTokenVerifier,
        tool_scopes: Mapping[str, str],
        path: str,
    ) -> None:
        self.app = app
        self.settings = settings
        self.verifier = verifier
        self.tool_scopes = tool_scopes
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        needed = self._scopes_needed(body)
        if needed:
            granted = await self._granted(scope)
            missing = sorted(needed - granted) if granted is not None else []
            if missing:
                await self._challenge(send, missing, granted or set())
                return
        await self.app(scope, _replay(messages, receive), send)

    def _scopes_needed(self, body: bytes | None) -> set[str]:
        """The scopes of the tools a ``tools/call`` message (or batch) names."""
        if body is None:
            return set()
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return set()
        calls = parsed if isinstance(parsed, list) else [parsed]
        needed = set()
        for call in calls:
            if isinstance(call, dict) and call.get("method") == "tools/call":
                params = call.get("params")
                name = params.get("name") if isinstance(params, dict) else None
                if isinstance(name, str) and name in self.tool_scopes:
                    needed.add(self.tool_scopes[name])
        return needed

    async def _granted(self, scope: Scope) -> set[str] | None:
        """The scopes of a valid token for this server; None leaves the request to the SDK
        (no token, or one it will answer 401 for)."""
        headers = {key.lower(): value for key, value in scope["headers"]}
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if not authorization.lower().startswith("bearer "):
            return None
        token = await self.verifier.verify_token(authorization[len("bearer ") :].strip())
        return set(token.scopes) if token is not None else None

    async def _challenge(self, send: Send, missing: list[str], granted: set[str]) -> None:
        # The scope to ask for is what the client has plus what this call needs (MCP: "the
        # scopes ... necessary to satisfy the request"; the SDK unions it with its own anyway).
        wanted = " ".join(sorted(granted | set(missing)))
        description = f"This tool needs the {' '.join(missing)} scope."
        challenge = (
            f'Bearer error="insufficient_scope", scope="{wanted}", '
            f'resource_metadata="{self.settings.resource_metadata_url}", '
            f'error_description="{description}"'
        )
        body = json.dumps(
            {"error": "insufficient_scope", "error_description": description, "scope": wanted}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", challenge.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """Every message of the request body as received, and the body (None when too large or
    the client went away: then not inspected)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > MAX_INSPECTED_BODY:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
