"""How pages name the place a link or a redirect takes the person to."""

from __future__ import annotations

from urllib.parse import urlsplit


def host_of(uri: str) -> str:
    """The host (and port, if any) people are sent to: what they should recognise."""
    parts = urlsplit(uri)
    host = parts.hostname or uri
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host
