"""HTTP Basic client credentials (RFC 6749 §2.3.1): one parser for every reader."""

from __future__ import annotations

import base64
from urllib.parse import unquote


def basic_client_id(credentials: str) -> str:
    """The client id in the credentials of a ``Basic`` Authorization header: form-urlencoded,
    then base64 (RFC 6749 §2.3.1). Raises ValueError if they are not base64 of UTF-8 text."""
    decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    return unquote(decoded.split(":", 1)[0])


def basic_credentials(credentials: str) -> tuple[str, str]:
    """(client id, client secret) from a ``Basic`` Authorization header's credentials, each
    form-urlencoded (RFC 6749 §2.3.1); the secret is empty when none was sent. Raises ValueError
    as ``basic_client_id`` does."""
    decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)
