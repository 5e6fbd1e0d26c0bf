"""Settings from ``MCP_CALENDAR_*`` environment variables, with defaults for a loopback demo.

``DefaultConfig`` declares each setting, its rule (``configrules``, checked at start: one line
naming the variable) and its meaning (the ``#:`` comment, which ``make docs`` copies to
docs/configuration.md); ``load_settings`` reads the environment over it into ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, cast
from urllib.parse import urlsplit, urlunsplit

from configrules import HostPort, Number, Optional, SettingError, Text, Url, Whole, validate

PREFIX = "MCP_CALENDAR_"

#: Where the metadata of a protected resource lives (RFC 9728 §3).
WELL_KNOWN = "/.well-known/oauth-protected-resource"


class ConfigError(RuntimeError):
    """A setting the MCP server cannot start with (one line naming the variable)."""


class DefaultConfig:
    #: The authorization server; its RFC 8414 metadata names the token endpoint and the JWKS,
    #: and it is the `iss` every token must carry.
    ISSUER: Annotated[str, Url()] = "http://127.0.0.1:5000"
    #: This server's public MCP endpoint, which is also its resource identifier (RFC 8707):
    #: the `aud` every token sent here must name. Served at this URL's path.
    URL: Annotated[str, Url()] = "http://127.0.0.1:5003/mcp"
    #: The resource API the tools call.
    API_URL: Annotated[str, Url()] = "http://127.0.0.1:5001"
    #: The API's resource identifier, asked for in token exchange; API_URL unless set.
    API_AUDIENCE: Annotated[str | None, Optional(Text())] = None
    #: This server's own confidential client, registered with the token-exchange grant and
    #: URL as its resource (`authserver demo` registers `mcp-calendar`).
    CLIENT_ID: Annotated[str, Text()] = "mcp-calendar"
    #: Its secret, as `authserver demo` printed it: required, unless CLIENT_SECRET_FILE names
    #: a file holding it.
    CLIENT_SECRET: Annotated[str | None, Optional(Text(secret=True))] = None
    #: A file holding the secret instead (read when CLIENT_SECRET is unset).
    CLIENT_SECRET_FILE: Annotated[str | None, Optional(Text())] = None
    #: HOST:PORT to listen on; URL's host and port unless set.
    BIND: Annotated[str | None, Optional(HostPort())] = None
    #: Seconds each call to the authorization server or the API may take.
    HTTP_TIMEOUT: Annotated[float, Number(0, 120, "seconds", above=True)] = 10
    #: Seconds before its expiry that an exchanged token is no longer used, and the clock skew
    #: allowed on the tokens received.
    TOKEN_LEEWAY: Annotated[int, Whole(0, 300, "seconds")] = 30


@dataclass(frozen=True)
class Settings:
    """The settings in force (``DefaultConfig``'s, read and checked)."""

    client_secret: str
    bind: str
    issuer: str = DefaultConfig.ISSUER
    url: str = DefaultConfig.URL
    api_url: str = DefaultConfig.API_URL
    api_audience: str = DefaultConfig.API_URL
    client_id: str = DefaultConfig.CLIENT_ID
    http_timeout: float = DefaultConfig.HTTP_TIMEOUT
    token_leeway: int = DefaultConfig.TOKEN_LEEWAY

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
    """The settings from ``environ`` over ``DefaultConfig``; ``ConfigError`` naming the
    variable at fault."""
    config: dict[str, object] = {
        name: value for name, value in vars(DefaultConfig).items() if name.isupper()
    }
    for name in config:
        if environ.get(PREFIX + name, "").strip():
            config[name] = environ[PREFIX + name].strip()
    try:
        validate(DefaultConfig, config, PREFIX)
    except SettingError as error:
        raise ConfigError(str(error)) from None
    secret = config["CLIENT_SECRET"]
    if not secret and config["CLIENT_SECRET_FILE"]:
        secret = Path(str(config["CLIENT_SECRET_FILE"])).read_text().strip()
    if not secret:
        raise ConfigError(
            f"{PREFIX}CLIENT_SECRET (or {PREFIX}CLIENT_SECRET_FILE) is required: the secret of "
            "the MCP server's own client (`authserver demo` prints it)."
        )
    url = str(config["URL"])
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    api_url = str(config["API_URL"]).rstrip("/")
    return Settings(
        client_secret=str(secret),
        bind=str(config["BIND"] or f"{parts.hostname}:{port}"),
        issuer=str(config["ISSUER"]).rstrip("/"),
        url=url,
        api_url=api_url,
        api_audience=str(config["API_AUDIENCE"] or api_url),
        client_id=str(config["CLIENT_ID"]),
        # validate() converted them: Number gives a float, Whole an int.
        http_timeout=cast(float, config["HTTP_TIMEOUT"]),
        token_leeway=cast(int, config["TOKEN_LEEWAY"]),
    )
