"""Settings from ``MCP_CALENDAR_*`` environment variables, with defaults for a loopback demo."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PREFIX = "MCP_CALENDAR_"

#: Where the metadata of a protected resource lives (RFC 9728 §3).
WELL_KNOWN = "/.well-known/oauth-protected-resource"


class ConfigError(RuntimeError):
    """A setting the MCP server cannot start with (one line naming the variable)."""


@dataclass(frozen=True)
class Settings:
    #: MCP_CALENDAR_ISSUER: the authorization server; its RFC 8414 metadata names the token
    #: endpoint and the JWKS.
    issuer: str = "http://127.0.0.1:5000"
    #: MCP_CALENDAR_URL: this server's public MCP endpoint, which is also its resource
    #: identifier (RFC 8707): the ``aud`` every token sent here must carry.
    url: str = "http://127.0.0.1:5003/mcp"
    #: MCP_CALENDAR_API_URL: the resource API the tools call.
    api_url: str = "http://127.0.0.1:5001"
    #: MCP_CALENDAR_API_AUDIENCE: the API's resource identifier, asked for in token exchange;
    #: the API's URL unless set.
    api_audience: str = ""
    #: MCP_CALENDAR_CLIENT_ID: this server's own confidential client, registered with the
    #: token-exchange grant and ``--resource`` = ``url``.
    client_id: str = "mcp-calendar"
    #: MCP_CALENDAR_CLIENT_SECRET (or MCP_CALENDAR_CLIENT_SECRET_FILE, a file holding it).
    client_secret: str = ""
    #: MCP_CALENDAR_BIND: HOST:PORT to listen on; the host and port of ``url`` unless set.
    bind: str = ""
    #: MCP_CALENDAR_HTTP_TIMEOUT: seconds each call to the server or the API may take.
    http_timeout: float = 10.0
    #: MCP_CALENDAR_TOKEN_LEEWAY: seconds before its expiry that an exchanged token is no
    #: longer used (clock skew, latency); also the clock skew allowed on received tokens.
    token_leeway: int = 30

    @property
    def resource_metadata_url(self) -> str:
        """RFC 9728 §3.1: the well-known path goes between the host and the resource's path."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + parts.path.rstrip("/"), "", ""))

    @property
    def host_and_port(self) -> tuple[str, int]:
        host, _, port = self.bind.rpartition(":")
        return host.strip("[]"), int(port)


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings from ``environ``; ``ConfigError`` naming the variable at fault."""

    def get(name: str, default: str = "") -> str:
        return environ.get(PREFIX + name, "").strip() or default

    defaults = Settings()
    url = get("URL", defaults.url)
    for name, value in (("ISSUER", get("ISSUER", defaults.issuer)), ("URL", url)):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ConfigError(f"{PREFIX}{name} must be an absolute http(s) URL, got {value!r}")
    api_url = get("API_URL", defaults.api_url).rstrip("/")
    secret = get("CLIENT_SECRET")
    secret_file = get("CLIENT_SECRET_FILE")
    if not secret and secret_file:
        secret = Path(secret_file).read_text().strip()
    if not secret:
        raise ConfigError(
            f"{PREFIX}CLIENT_SECRET (or {PREFIX}CLIENT_SECRET_FILE) is required: the secret of "
            "the MCP server's own client (`authserver demo` prints it)"
        )
    parts = urlsplit(url)
    default_bind = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    bind = get("BIND", default_bind)
    if not bind.rpartition(":")[2].isdigit():
        raise ConfigError(f"{PREFIX}BIND must be HOST:PORT, got {bind!r}")
    try:
        timeout = float(get("HTTP_TIMEOUT", str(defaults.http_timeout)))
        leeway = int(get("TOKEN_LEEWAY", str(defaults.token_leeway)))
    except ValueError as error:
        raise ConfigError(f"{PREFIX}HTTP_TIMEOUT, TOKEN_LEEWAY: not numbers ({error})") from None
    if not 0 < timeout <= 120 or not 0 <= leeway <= 300:
        raise ConfigError(f"{PREFIX}HTTP_TIMEOUT is 0-120 s, {PREFIX}TOKEN_LEEWAY 0-300 s")
    return Settings(
        issuer=get("ISSUER", defaults.issuer).rstrip("/"),
        url=url,
        api_url=api_url,
        api_audience=get("API_AUDIENCE", api_url),
        client_id=get("CLIENT_ID", defaults.client_id),
        client_secret=secret,
        bind=bind,
        http_timeout=timeout,
        token_leeway=leeway,
    )
