"""What the MCP server asks the authorization server: its metadata (RFC 8414), its keys (the
JWKS) and token exchange (RFC 8693) — over HTTP, like any resource server; it shares no code
with the server.

Only the configured issuer is ever fetched (no address comes from a request), with timeouts,
no redirects and a size bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .config import Settings

#: Metadata and key sets are a few KiB; anything far bigger is not one.
MAX_RESPONSE_BYTES = 1024 * 1024
#: How long the metadata and the key set are trusted before they are fetched again.
METADATA_MAX_AGE = 3600
JWKS_MAX_AGE = 600
#: An unknown ``kid`` (a rotation) refetches the key set, at most this often.
JWKS_MIN_REFETCH = 30


class IssuerUnavailable(Exception):
    """The issuer could not be asked, or answered nonsense."""


class Issuer:
    """The issuer's metadata and key set, cached; one fetch at a time (a lock), so many
    requests arriving with a new ``kid`` cause one fetch, not one each."""

    def __init__(
        self, settings: Settings, http: httpx2.AsyncClient, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock
        self._lock = anyio.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def metadata(self) -> dict[str, Any]:
        async with self._lock:
            if self._metadata is None or self.clock() - self._metadata_at > METADATA_MAX_AGE:
                # RFC 8414 §3: the issuer is a URL; the metadata lives under its well-known path.
                url = f"{self.settings.issuer}/.well-known/oauth-authorization-server"
                metadata = await self.get_json(url)
                if metadata.get("issuer") != self.settings.issuer:
                    # RFC 8414 §3.3: the metadata must name the issuer it was fetched for.
                    raise IssuerUnavailable(f"{url} names another issuer")
                self._metadata, self._metadata_at = metadata, self.clock()
            return self._metadata

    async def endpoint(self, name: str) -> str:
        value = (await self.metadata()).get(name)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise IssuerUnavailable(f"the issuer's metadata has no {name}")
        return value

    async def key_set(self, kid: str | None) -> KeySet:
        """The issuer's keys; fetched again when old, or when ``kid`` is not among them (at
        most every ``JWKS_MIN_REFETCH`` seconds, so unknown kids cannot make it fetch at will)."""
        jwks_uri = await self.endpoint("jwks_uri")
        async with self._lock:
            age = self.clock() - self._keys_at
            stale = self._keys is None or age > JWKS_MAX_AGE
            unknown_kid = kid is not None and (self._keys is None or not _has_kid(self._keys, kid))
            if self._keys is None or stale or (unknown_kid and age > JWKS_MIN_REFETCH):
                try:
                    keys = KeySet.import_key_set(await self.get_json(jwks_uri))  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError) as error:
                    raise IssuerUnavailable(f"the issuer's JWKS is unusable: {error}") from None
                self._keys, self._keys_at = keys, self.clock()
            return self._keys

    async def get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self.http.stream("GET", url, headers={"Accept": "application/json"}) as got:
                if not got.is_success:
                    raise IssuerUnavailable(f"{url} answered {got.status_code}")
                body = b""
                async for chunk in got.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:  # read no further than the bound
                        raise IssuerUnavailable(f"{url} answered more than a key set's size")
        except httpx2.HTTPError as error:
            raise IssuerUnavailable(f"{url}: {error}") from None
        return json_object(httpx2.Response(got.status_code, content=body, request=got.request))


def json_object(response: httpx2.Response) -> dict[str, Any]:
    """The JSON object a 2xx response holds; ``IssuerUnavailable`` for anything else."""
    if not response.is_success or len(response.content) > MAX_RESPONSE_BYTES:
        raise IssuerUnavailable(f"{response.request.url} answered {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise IssuerUnavailable(f"{response.request.url} did not answer JSON") from None
    if not isinstance(body, dict):
        raise IssuerUnavailable(f"{response.request.url} did not answer a JSON object")
    return body


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)
