"""What one measured endpoint is: the request, and how its single-use material is fed to it.

The same description drives both load generators (wrk's Lua scripts and the asyncio fallback):

- ``static``: the same request every time;
- ``cycle``: ``{item}`` in path, headers or body takes the items in turn (access tokens);
- ``pop``: each item is used once (authorization codes); when a generator runs out it stops and
  says so, rather than sending requests that can only fail;
- ``chain``: each response's ``chain_field`` (a JSON string) is the next item (rotating refresh
  tokens); ``items`` is the starting pool, a few per connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

KINDS = ("static", "cycle", "pop", "chain")


@dataclass
class Endpoint:
    name: str
    service: str  # "auth", "api" or "baseline"
    method: str
    path: str
    baseline: str | None = None  # name of the endpoint its throughput is compared with
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    kind: str = "static"
    items: list[str] = field(default_factory=list)
    chain_field: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.kind == "chain" and not self.chain_field:
            raise ValueError("a chain endpoint needs chain_field")

    def render(self, item: str | None) -> tuple[str, dict[str, str], str]:
        """Path, headers and body with ``{item}`` replaced (items are form-encoded already)."""
        if item is None:
            return self.path, dict(self.headers), self.body
        return (
            self.path.replace("{item}", item),
            {k: v.replace("{item}", item) for k, v in self.headers.items()},
            self.body.replace("{item}", item),
        )

    def chain_regex(self) -> re.Pattern[str]:
        return re.compile(r'"' + re.escape(self.chain_field or "") + r'"\s*:\s*"([^"]+)"')


def form_encode(value: str) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters (as the Lua side does)."""
    return quote(value, safe="-._~")
