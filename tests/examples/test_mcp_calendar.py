"""The MCP server example (examples/mcp_calendar) with the real authorization server and
resource API, each in its own process on free loopback ports, driven by the MCP SDK's own
client: its OAuth (``OAuthClientProvider``: RFC 9728 then RFC 8414 discovery, RFC 7591
registration or a Client ID Metadata Document served over https from loopback, the
authorization code with PKCE and ``resource``) over its streamable HTTP
transport. The "browser" that logs in and consents is a ``requests`` session posting the
server's forms with their CSRF tokens, as a person's browser would.

Databases: temporary SQLite files, or a fresh PostgreSQL schema per service when
``AUTHSERVER_DATABASE_URL`` points at PostgreSQL (dropped at the end).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import anyio
import httpx2
import pytest
import requests
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.shared.exceptions import MCPError
from pydantic import AnyUrl

from tests.databases import drop_postgres_schema, make_postgres_schema
from tests.processes import ServerProcess, free_port, stop_process_group

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
STARTUP_SECONDS = 60
EVENT = {"starts_at": "2026-12-24T18:00:00Z", "ends_at": "2026-12-24T20:00:00Z"}


@dataclass
class Stack:
    issuer: str
    api: str
    mcp: str
    database_urls: dict[str, str]
    demo: dict[str, str]
    services: list[ServerProcess] = field(default_factory=list)

    def report(self) -> str:
        return "\n".join(service.tail() for service in self.services)


def _database_urls(tmp: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    url = os.environ.get("AUTHSERVER_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return {name: f"sqlite:///{tmp / name}.sqlite3" for name in ("auth", "api")}, []
    urls, schemas = {}, []
    for name in ("auth", "api"):
        schema = make_postgres_schema(url)
        schemas.append((url, schema))
        separator = "&" if "?" in url else "?"
        urls[name] = f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    return urls, schemas


def _start(
    name: str, argv: list[str], url: str, probe: str, env: dict, workdir: Path
) -> ServerProcess:
    log = workdir / f"{name.replace(' ', '_')}.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter, our apps
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    service = ServerProcess(name, url, process, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url + probe, timeout=2).status_code < 500:
                return service
        time.sleep(0.1)
    text = service.tail()
    stop_process_group(process)
    raise AssertionError(f"{name} did not start:\n{text}")


def _run(argv: list[str], env: dict) -> str:
    result = subprocess.run(  # noqa: S603 - fixed argv: this interpreter, our apps
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class MetadataDocuments:
    """An https server on loopback serving Client ID Metadata Documents, as a desktop MCP
    client's vendor would host its own. Its certificate is self-signed; the authorization
    server's process trusts it through ``SSL_CERT_FILE`` (read by ``ssl``'s default context)."""

    def __init__(self, workdir: Path) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.certificate = workdir / "documents-ca.pem"
        self.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file = workdir / "documents-key.pem"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.documents: dict[str, bytes] = {}
        self.fetched: list[str] = []
        documents, fetched = self.documents, self.fetched

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fetched.append(self.path)
                body = documents.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "max-age=300")
                self.end_headers()
                self.wfile.write(body or b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, key_file)
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.origin = f"https://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, path: str, document: dict[str, Any]) -> str:
        url = self.origin + path
        self.documents[path] = json.dumps({"client_id": url, **document}).encode()
        return url

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadataDocuments]:
    served = MetadataDocuments(tmp_path_factory.mktemp("metadata_documents"))
    yield served
    served.close()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, documents: MetadataDocuments
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("mcp_calendar")
    auth_port, api_port, mcp_port = free_port(), free_port(), free_port()
    issuer, api = f"http://127.0.0.1:{auth_port}", f"http://127.0.0.1:{api_port}"
    mcp = f"http://127.0.0.1:{mcp_port}/mcp"
    urls, schemas = _database_urls(workdir)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AUTHSERVER_", "RESOURCE_API_", "MCP_CALENDAR_", "DEMO_CLIENT_"))
        },
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "AUTHSERVER_DATABASE_URL": urls["auth"],
        "AUTHSERVER_ISSUER": issuer,
        "AUTHSERVER_DEFAULT_AUDIENCE": api,
        "AUTHSERVER_SECRET_KEY": "mcp-tests-" + "s" * 32,
        "AUTHSERVER_BCRYPT_ROUNDS": "4",
        "AUTHSERVER_RATELIMIT_ENABLED": "false",
        # MCP clients register themselves (RFC 7591); off by default, on for this test.
        "AUTHSERVER_REGISTRATION_ENABLED": "1",
        # ...or name themselves by a metadata document, served here from loopback over https
        # with the test's own certificate.
        "AUTHSERVER_CIMD_ALLOW_LOOPBACK": "1",
        "SSL_CERT_FILE": str(documents.certificate),
        "RESOURCE_API_DATABASE_URL": urls["api"],
        "RESOURCE_API_ISSUER": issuer,
        "RESOURCE_API_AUDIENCE": api,
        "MCP_CALENDAR_ISSUER": issuer,
        "MCP_CALENDAR_URL": mcp,
        "MCP_CALENDAR_API_URL": api,
    }
    flask = [sys.executable, "-m", "flask"]
    live = Stack(issuer, api, mcp, urls, {})
    try:
        _run([*flask, "--app", "authserver", "db", "upgrade"], env)
        _run([*flask, "--app", "resource_api", "db", "upgrade"], env)
        # What `make serve` runs: the demo person, and the MCP server's own client (token
        # exchange, MCP_CALENDAR_URL registered as its resource).
        live.demo = json.loads(_run([*flask, "--app", "authserver", "demo", "--json"], env))
        gunicorn = [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4"]
        for name, port, app, probe in (
            ("authorization server", auth_port, "wsgi:auth_app", "/healthz"),
            ("resource API", api_port, "wsgi:api_app", "/openapi.json"),
        ):
            argv = [*gunicorn, "--bind", f"127.0.0.1:{port}"]
            argv += ["--control-socket", str(workdir / f"{port}.ctl"), app]
            live.services.append(
                _start(name, argv, f"http://127.0.0.1:{port}", probe, env, workdir)
            )
        mcp_env = env | {"MCP_CALENDAR_CLIENT_SECRET": live.demo["mcp_client_secret"]}
        live.services.append(
            _start(
                "MCP server",
                [sys.executable, "-m", "examples.mcp_calendar"],
                f"http://127.0.0.1:{mcp_port}",
                "/.well-known/oauth-protected-resource/mcp",
                mcp_env,
                workdir,
            )
        )
        yield live
    finally:
        for service in live.services:
            stop_process_group(service.process)
        for url, schema in schemas:
            drop_postgres_schema(url, schema)


# --- the MCP client, as a desktop app would run it ----------------------------------------------


class MemoryStorage:
    """The SDK's ``TokenStorage``: where a desktop client would keep its registration and tokens."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Person:
    """The browser the SDK's redirect handler opens: logs in, consents, and hands the
    callback's code back to the SDK. The n-th time it is asked it allows ``grants[n]`` of what
    is asked (None: all of it; the last entry holds for later times)."""

    def __init__(self, stack: Stack, grants: list[set[str] | None] | None = None) -> None:
        self.stack = stack
        self.grants = grants or [None]
        self.session = requests.Session()
        self.asked_for: list[str] = []
        self.authorization_urls: list[str] = []
        self.callback: dict[str, list[str]] = {}
        self.consent_page = ""
        self.refusal: requests.Response | None = None

    async def open(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        consent = self.session.get(authorization_url, timeout=10)
        if consent.status_code >= 400:
            self.refusal = consent
            raise AssertionError(f"the authorization endpoint refused: {consent.status_code}")
        if not self.authorization_urls[:-1]:  # the first time: not logged in yet
            assert consent.url.startswith(f"{self.stack.issuer}/login"), consent.text[:500]
            consent = self.session.post(
                consent.url,
                data={
                    "csrf_token": _csrf(consent.text),
                    "email": self.stack.demo["user_email"],
                    "password": self.stack.demo["user_password"],
                },
                timeout=10,
            )
        assert consent.url.startswith(f"{self.stack.issuer}/oauth/authorize"), consent.text[:500]
        self.consent_page = consent.text
        self.asked_for = re.findall(r'name="scope" value="([^"]+)"', consent.text)
        grant = self.grants[min(len(self.authorization_urls), len(self.grants)) - 1]
        granted = [s for s in self.asked_for if grant is None or s in grant]
        answer = self.session.post(
            consent.url,
            data={"csrf_token": _csrf(consent.text), "decision": "allow", "scope": granted},
            timeout=10,
            allow_redirects=False,
        )
        assert answer.status_code in (302, 303), answer.text[:500]
        self.callback = parse_qs(urlsplit(answer.headers["Location"]).query)

    async def code(self) -> AuthorizationCodeResult:
        assert "code" in self.callback, self.callback
        return AuthorizationCodeResult(
            code=self.callback["code"][0],
            state=self.callback.get("state", [None])[0],
            iss=self.callback.get("iss", [None])[0],
        )


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:500]
    return found.group(1)


def _client_metadata() -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name="MCP test client",
        # A desktop client's loopback callback (RFC 8252 §7.3); the Person reads the code
        # from the redirect instead of listening there.
        redirect_uris=[AnyUrl(f"http://127.0.0.1:{free_port()}/callback")],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )


async def _use_tools(
    stack: Stack,
    person: Person,
    storage: MemoryStorage,
    calls: list,
    client_metadata: OAuthClientMetadata | None = None,
    client_metadata_url: str | None = None,
) -> list:
    """Connect with the SDK's OAuth and run ``calls`` (tool name, arguments) in order; with
    ``client_metadata_url``, the SDK names itself by that metadata document."""
    auth = OAuthClientProvider(
        server_url=stack.mcp,
        client_metadata=client_metadata or _client_metadata(),
        storage=storage,
        redirect_handler=person.open,
        callback_handler=person.code,
        client_metadata_url=client_metadata_url,
    )
    results = []
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with streamable_http_client(stack.mcp, http_client=http) as streams:
            async with ClientSession(*streams[:2]) as session:
                await session.initialize()
                for name, arguments in calls:
                    results.append(await session.call_tool(name, arguments))
    return results


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _events_of(stack: Stack, sub: str) -> list[str]:
    """The titles the resource API stored for ``sub``, read from its own database."""
    engine = sa.create_engine(stack.database_urls["api"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT title FROM events WHERE owner_sub = :sub ORDER BY id"), {"sub": sub}
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def _count(url: str, query: str, **parameters: str) -> int:
    """One ``SELECT count(*)`` on a service's own database."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query), parameters).scalar_one()
    finally:
        engine.dispose()


def _registrations(stack: Stack) -> int:
    """Clients registered any way but by a metadata document."""
    return _count(
        stack.database_urls["auth"], "SELECT count(*) FROM clients WHERE NOT metadata_document"
    )


def _exchanges_by_mcp_server(stack: Stack) -> int:
    return _count(
        stack.database_urls["auth"],
        "SELECT count(*) FROM audit_events WHERE event = 'token.exchanged' AND client_id = :client",
        client=stack.demo["mcp_client_id"],
    )


# --- the tests ----------------------------------------------------------------------------------


def test_an_mcp_client_signs_in_with_the_sdk_and_its_tools_reach_the_calendar(stack):
    person, storage = Person(stack), MemoryStorage()
    title = "Dinner booked through MCP"
    created, listed = anyio.run(
        _use_tools,
        stack,
        person,
        storage,
        [("create_event", {"title": title, **EVENT}), ("list_events", {})],
    )

    # Discovery led the SDK to our server, which it registered with (RFC 7591) and asked for a
    # token for the MCP server (RFC 8707 resource) with the scopes its metadata lists, PKCE'd.
    assert len(person.authorization_urls) == 1, person.authorization_urls
    asked = parse_qs(urlsplit(person.authorization_urls[0]).query)
    assert person.authorization_urls[0].startswith(f"{stack.issuer}/oauth/authorize?")
    assert asked["resource"] == [stack.mcp]
    assert asked["code_challenge_method"] == ["S256"]
    assert {"events:read", "events:write"} <= set(asked["scope"][0].split())
    assert storage.client_info is not None and storage.client_info.client_id
    assert storage.tokens is not None
    received = _claims(storage.tokens.access_token)
    assert received["aud"] == stack.mcp
    assert received["client_id"] == storage.client_info.client_id

    # The tools worked, and the event is in the person's calendar at the API.
    assert not created.is_error, created.content
    assert created.structured_content["title"] == title
    assert not listed.is_error, listed.content
    assert title in [item["title"] for item in listed.structured_content["items"]]
    assert _events_of(stack, received["sub"]) == [title]
    # The API was called with exchanged tokens (one per scope used), never the received one.
    assert _exchanges_by_mcp_server(stack) >= 1


def _list_tools_with(stack, token: str) -> requests.Response:
    """A bare ``tools/list`` to the MCP server with ``token``, as any HTTP client sends it."""
    return requests.post(
        stack.mcp,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        },
        timeout=10,
    )


def test_a_token_for_the_resource_api_is_refused_by_the_mcp_server(stack):
    # The demo client's own token: aud = the API, not the MCP server.
    token = requests.post(
        f"{stack.issuer}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "events:read"},
        auth=(stack.demo["client_id"], stack.demo["client_secret"]),
        timeout=10,
    ).json()["access_token"]
    assert _claims(token)["aud"] == stack.api

    answer = _list_tools_with(stack, token)
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    metadata_url = f"http://{urlsplit(stack.mcp).netloc}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata_url}"' in challenge
    assert 'error="invalid_token"' in challenge


def test_the_protected_resource_metadata_names_the_issuer_and_the_scopes(stack):
    origin = f"http://{urlsplit(stack.mcp).netloc}"
    for path in (
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ):
        metadata = requests.get(origin + path, timeout=10).json()
        assert metadata["resource"] == stack.mcp
        assert metadata["authorization_servers"] == [stack.issuer]
        assert metadata["scopes_supported"] == ["events:read", "events:write"]


def _call(stack: Stack, token: str, message: dict) -> requests.Response:
    return requests.post(
        stack.mcp,
        json={"jsonrpc": "2.0", "id": 1, **message},
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=10,
    )


def test_without_events_write_a_client_can_list_but_creating_is_403_insufficient_scope(stack):
    person, storage = Person(stack, grants=[{"events:read"}]), MemoryStorage()
    (listed,) = anyio.run(_use_tools, stack, person, storage, [("list_events", {})])
    assert not listed.is_error, listed.content
    assert storage.tokens is not None
    token = storage.tokens.access_token
    received = _claims(token)
    assert "events:write" not in received["scope"].split()

    create = {
        "method": "tools/call",
        "params": {"name": "create_event", "arguments": {"title": "Not allowed", **EVENT}},
    }
    answer = _call(stack, token, create)
    # MCP's scope challenge: 403, naming the scope to ask for, so the client can step up.
    assert answer.status_code == 403, answer.text
    challenge = answer.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    wanted = re.search(r'scope="([^"]*)"', challenge)
    assert wanted and "events:write" in wanted.group(1).split()
    assert "resource_metadata=" in challenge
    assert answer.json()["error"] == "insufficient_scope"
    assert "Not allowed" not in _events_of(stack, received["sub"])
    # Reading stays allowed with the same token.
    read = _call(stack, token, {"method": "tools/call", "params": {"name": "list_events"}})
    assert read.status_code == 200, read.text


def test_the_sdk_steps_up_when_the_person_then_allows_writing(stack):
    # First only reading is allowed; the 403 on create makes the SDK ask again, and this time
    # the person allows writing too: the event is made, with no error reaching the caller.
    person, storage = Person(stack, grants=[{"events:read"}, None]), MemoryStorage()
    title = "Allowed on the second ask"
    (created,) = anyio.run(
        _use_tools, stack, person, storage, [("create_event", {"title": title, **EVENT})]
    )
    assert len(person.authorization_urls) == 2
    second = parse_qs(urlsplit(person.authorization_urls[1]).query)
    assert "events:write" in second["scope"][0].split()
    assert not created.is_error, created.content
    assert storage.tokens is not None
    received = _claims(storage.tokens.access_token)
    assert "events:write" in received["scope"].split()
    assert title in _events_of(stack, received["sub"])


def test_a_token_without_events_read_is_403_insufficient_scope(stack):
    person, storage = Person(stack, grants=[{"events:write"}]), MemoryStorage()
    with pytest.raises(BaseExceptionGroup) as raised:
        anyio.run(_use_tools, stack, person, storage, [("list_events", {})])
    # The person declined events:read: the server refused the session the SDK opened.
    assert raised.group_contains(MCPError)
    assert storage.tokens is not None
    token = storage.tokens.access_token
    assert "events:read" not in _claims(token)["scope"].split()
    answer = _list_tools_with(stack, token)
    assert answer.status_code == 403
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


def test_an_mcp_client_named_by_its_metadata_document_signs_in_without_registering(
    stack, documents
):
    """The SDK's Client ID Metadata Document path (MCP authorization 2025-11-25): the server
    advertises client_id_metadata_document_supported, so the SDK sends its document's https URL
    as client_id instead of registering; the server fetches and checks the document, shows its
    host on the consent page, and the tools work as for a registered client."""
    metadata = _client_metadata()
    url = documents.publish(
        "/mcp-client.json",
        {
            "client_name": "Desktop agent",
            "redirect_uris": [str(uri) for uri in metadata.redirect_uris or []],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    )
    person, storage = Person(stack), MemoryStorage()
    registrations_before = _registrations(stack)
    (listed,) = anyio.run(
        _use_tools,
        stack,
        person,
        storage,
        [("list_events", {})],
        metadata,
        url,
    )
    assert not listed.is_error, listed.content
    assert parse_qs(urlsplit(person.authorization_urls[0]).query)["client_id"] == [url]
    # The consent page names the host the document came from, and warns that every redirect
    # goes to the person's own computer (any local program could claim that name).
    assert f"<strong>From {urlsplit(url).netloc}.</strong>" in person.consent_page
    assert "Any program on your computer could be" in person.consent_page
    assert storage.client_info is not None and storage.client_info.client_id == url
    assert storage.tokens is not None
    assert _claims(storage.tokens.access_token)["client_id"] == url
    assert _registrations(stack) == registrations_before  # nothing registered by RFC 7591
    assert documents.fetched.count("/mcp-client.json") == 1  # kept per its Cache-Control


def test_a_metadata_document_that_lies_about_its_client_id_is_refused(stack, documents):
    """A document whose client_id is not its own URL: the authorization endpoint answers an
    error page and never redirects to the document's redirect URI."""
    metadata = _client_metadata()
    url = documents.origin + "/liar.json"
    documents.documents["/liar.json"] = json.dumps(
        {
            "client_id": documents.origin + "/someone-else.json",
            "redirect_uris": [str(uri) for uri in metadata.redirect_uris or []],
            "token_endpoint_auth_method": "none",
        }
    ).encode()
    person, storage = Person(stack), MemoryStorage()
    with pytest.raises((BaseExceptionGroup, AssertionError)):
        anyio.run(_use_tools, stack, person, storage, [("list_events", {})], metadata, url)
    assert storage.tokens is None
    assert person.refusal is not None and person.refusal.status_code == 400
    assert "client_id" in person.refusal.text


def test_a_browser_based_client_may_call_the_mcp_endpoint_and_read_its_challenge(stack):
    """An MCP client in a page on another origin (the Inspector's): the preflight is allowed,
    and the 401 it gets first exposes WWW-Authenticate, where it learns of the metadata."""
    origin = "http://localhost:6274"
    preflight = requests.options(
        stack.mcp,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", origin)
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    unauthorized = requests.post(
        stack.mcp,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Origin": origin, "Accept": "application/json, text/event-stream"},
        timeout=10,
    )
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] == "*"
    assert "www-authenticate" in unauthorized.headers["Access-Control-Expose-Headers"].lower()
    assert "resource_metadata=" in unauthorized.headers["WWW-Authenticate"]
