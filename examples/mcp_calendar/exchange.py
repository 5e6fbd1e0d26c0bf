"""Token exchange (RFC 8693): the token the MCP server calls the API with.

MCP forbids token passthrough: the token a client sent is for this server (its ``aud``), and
the API would refuse it anyway. The server trades it at the issuer's token endpoint, as its own
confidential client, for a token for the API with only the scope the tool needs; the new token
is the same person's and says the server acts (``act``). Exchanged tokens are kept until shortly
before they expire, keyed by a hash of the token they were made from and the scope.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import anyio
import httpx2

from .config import Settings
from .issuer import Issuer, IssuerUnavailable, json_object

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
#: Exchanged tokens kept at once (the oldest go first).
CACHE_SIZE = 1024


class ExchangeRefused(Exception):
    """The issuer would not exchange the token (its ``error``, e.g. ``invalid_scope``)."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error


@dataclass(frozen=True)
class _Exchanged:
    access_token: str
    use_until: float


class TokenExchanger:
    def __init__(
        self,
        settings: Settings,
        issuer: Issuer,
        http: httpx2.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.issuer = issuer
        self.http = http
        self.clock = clock
        self._cache: OrderedDict[bytes, _Exchanged] = OrderedDict()
        self._lock = anyio.Lock()
        #: How many exchanges reached the issuer (the cache's effect, for tests and operators).
        self.exchanges = 0

    async def token_for(
        self, subject_token: str, subject_expires_at: int | None, scope: str
    ) -> str:
        """A token for the API with ``scope``, made from ``subject_token`` (or still cached)."""
        # A hash, so the cache holds no token that was sent to us.
        key = hashlib.sha256(f"{scope}\0{subject_token}".encode()).digest()
        async with self._lock:
            cached = self._cache.get(key)
            if cached is not None and self.clock() < cached.use_until:
                return cached.access_token
            self._cache.pop(key, None)
        exchanged = await self._exchange(subject_token, subject_expires_at, scope)
        async with self._lock:
            self._cache[key] = exchanged
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return exchanged.access_token

    async def _exchange(
        self, subject_token: str, subject_expires_at: int | None, scope: str
    ) -> _Exchanged:
        endpoint = await self.issuer.endpoint("token_endpoint")
        started = self.clock()
        try:
            response = await self.http.post(
                endpoint,
                data={
                    "grant_type": TOKEN_EXCHANGE_GRANT,
                    "subject_token": subject_token,
                    "subject_token_type": ACCESS_TOKEN_TYPE,
                    "resource": self.settings.api_audience,
                    "scope": scope,
                },
                # client_secret_basic: both parts form-encoded first (RFC 6749 §2.3.1).
                auth=httpx2.BasicAuth(
                    quote(self.settings.client_id, safe=""),
                    quote(self.settings.client_secret, safe=""),
                ),
                headers={"Accept": "application/json"},
            )
        except httpx2.HTTPError as failure:
            raise IssuerUnavailable(f"token exchange: {failure}") from None
        self.exchanges += 1
        if response.status_code in (400, 401):
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            # RFC 6749 §5.2's error, e.g. invalid_scope or invalid_client.
            code, description = body.get("error"), body.get("error_description", "")
            raise ExchangeRefused(str(code or "invalid_request"), str(description))
        body = json_object(response)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not isinstance(expires_in, int):
            raise IssuerUnavailable("the token endpoint's answer has no access token")
        use_until = started + expires_in - self.settings.token_leeway
        if subject_expires_at is not None:
            # Not past the token it was made from: a client whose token ended gets no more.
            use_until = min(use_until, subject_expires_at)
        return _Exchanged(token, use_until)
