"""The one table of what is measured: each endpoint's row name, the baseline it is compared
with, and the target its ratio must reach (issue 15's table).

Ratios, not absolute numbers, are what count: the baseline runs on the same machine in the same
round, so a busy machine slows both. ``hello`` (a bare Flask app answering a constant) is the
limit for endpoints that only read; ``insert`` (the same app writing one row) for those that
write.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """At least ``ratio`` times the baseline's req/s, and (when given) a p99 under ``p99_ms``."""

    ratio: float
    p99_ms: float | None = None

    def describe(self) -> str:
        text = f">= {self.ratio:.2f} x"
        return f"{text}, p99 < {self.p99_ms:g}ms" if self.p99_ms is not None else text


@dataclass(frozen=True)
class Measured:
    name: str
    baseline: str | None = None  # the key of the row it is compared with
    target: Target | None = None
    #: The key of a bare app doing the least this endpoint must do (one database read), measured
    #: beside it: the endpoint cannot beat it, so a shortfall is told next to that ceiling.
    floor: str | None = None


#: key -> what the row is; the order is the order of each round and of the table.
ENDPOINTS: dict[str, Measured] = {
    "hello": Measured("GET /hello (bare Flask: the limit)"),
    "insert": Measured("POST /insert (bare Flask + 1 row)"),
    # The floor of endpoints that read one row (measured by default beside the rows naming it).
    "read": Measured("GET /read (bare Flask + 1 indexed read)"),
    "client_credentials": Measured(
        "POST /oauth/token client_credentials", "insert", Target(0.7, p99_ms=25)
    ),
    "introspect": Measured(
        "POST /oauth/introspect (access token)", "hello", Target(0.5), floor="read"
    ),
    "jwks": Measured("GET /oauth/jwks", "hello", Target(0.85)),
    "api_events": Measured(
        "GET /api/events?limit=1 (resource API)", "hello", Target(0.5), floor="read"
    ),
    # RFC 9449 beside their bearer rows (ratios to the same baselines, no targets of their own).
    "client_credentials_dpop": Measured(
        "POST /oauth/token client_credentials + DPoP proof", "insert"
    ),
    "api_events_dpop": Measured("GET /api/events?limit=1 with a DPoP-bound token", "hello"),
    # Measured on request (--all, --only), without a target of their own.
    "refresh_token": Measured("POST /oauth/token refresh_token", "insert"),
    "authorization_code": Measured("POST /oauth/token authorization_code", "insert"),
    "discovery": Measured("GET /.well-known/openid-configuration", "hello"),
    "api_me": Measured("GET /api/me (resource API)", "hello"),
}

#: What ``make bench`` measures: the rows with a target, and the baselines and floors they are
#: held to.
DEFAULT_ENDPOINTS = [
    key
    for key in ENDPOINTS
    if ENDPOINTS[key].target is not None
    or any(
        row.target is not None and key in (row.baseline, row.floor) for row in ENDPOINTS.values()
    )
]
