"""Client ID Metadata Documents: documents served by a local HTTP server (``HostileServer``),
which the server under test may fetch from loopback because ``CIMD_ALLOW_LOOPBACK`` is on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.hostile_server import HostileServer, running_server


@pytest.fixture
def app_config() -> dict:
    return {"CIMD_ALLOW_LOOPBACK": True}


@pytest.fixture(scope="module")
def _server() -> Iterator[HostileServer]:
    yield from running_server()


@pytest.fixture
def documents(_server: HostileServer) -> HostileServer:
    """The document host, emptied for each test."""
    _server.answers.clear()
    _server.requests.clear()
    _server.posts.clear()
    return _server


@dataclass
class DocumentClient:
    """A client named by its document's URL, shaped like ``factories.ClientInfo``."""

    client_id: str
    redirect_uri: str
    secret: None = None


def document(url: str, redirect_uri: str, **fields: object) -> dict:
    """A good metadata document for a public client at ``url`` (``fields`` change it)."""
    body: dict = {
        "client_id": url,
        "client_name": "Calendar Agent",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile offline_access events:read",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def agent(documents: HostileServer) -> DocumentClient:
    """A good document whose redirect URI is on the web (https), kept an hour."""
    url = documents.url("/agent/client.json")
    redirect_uri = "https://agent.example/callback"
    documents.serve_json(
        "/agent/client.json", document(url, redirect_uri), **{"Cache-Control": "max-age=3600"}
    )
    return DocumentClient(url, redirect_uri)
