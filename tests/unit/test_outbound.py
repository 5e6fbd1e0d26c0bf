"""The outbound fetcher's guards (SSRF): only public addresses, the vetted one connected to, no
redirects, bounded size and time, JSON objects only. Driven against a local server that answers
as a hostile document host would."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator

import pytest

from authserver.security import outbound
from authserver.security.outbound import FetchRefused, fetch_json

from ..hostile_server import Answer, HostileServer, running_server


@pytest.fixture
def server() -> Iterator[HostileServer]:
    yield from running_server()


def test_fetches_a_json_object_and_its_cache_lifetime(server: HostileServer) -> None:
    url = server.serve_json("/jwks", {"keys": []}, **{"Cache-Control": "public, max-age=300"})
    fetched = fetch_json(url, max_bytes=1000, allow_loopback=True)
    assert fetched.document == {"keys": []}
    assert fetched.max_age == 300


def test_no_store_means_keep_nothing(server: HostileServer) -> None:
    url = server.serve_json("/doc", {"a": 1}, **{"Cache-Control": "no-store"})
    assert fetch_json(url, max_bytes=1000, allow_loopback=True).max_age == 0


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    ],
)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert outbound.address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_pass(address: str) -> None:
    assert outbound.address_problem(ipaddress.ip_address(address)) is None


def test_loopback_is_refused_unless_allowed(server: HostileServer) -> None:
    url = server.serve_json("/jwks", {"keys": []})
    with pytest.raises(FetchRefused, match="https"):
        fetch_json(url, max_bytes=1000)
    https_url = url.replace("http://", "https://")
    with pytest.raises(FetchRefused, match="loopback"):
        fetch_json(https_url, max_bytes=1000)
    assert server.requests == []


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(FetchRefused, match="private"):
        fetch_json("https://keys.example.com/jwks", max_bytes=1000)


def test_one_private_address_among_public_ones_refuses_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(FetchRefused, match="loopback"):
        fetch_json("https://keys.example.com/jwks", max_bytes=1000)


def test_connects_to_the_vetted_address_and_resolves_once(
    server: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name is resolved once, and that vetted address is connected to; a
    second resolution (which a rebinding attacker would answer differently) never happens."""
    server.serve_json("/jwks", {"keys": []})
    real = socket.getaddrinfo
    calls: list[str] = []

    def resolve(host, port, *args, **kwargs):
        calls.append(host)
        if len(calls) > 1:
            return real("10.0.0.1", port, *args, **kwargs)
        return real("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = f"http://rebind.example:{server.port}/jwks"
    assert fetch_json(url, max_bytes=1000, allow_loopback=True).document == {"keys": []}
    assert calls == ["rebind.example"]
    assert server.requests == [("/jwks", f"rebind.example:{server.port}")]


def test_redirects_are_refused_not_followed(server: HostileServer) -> None:
    server.answers["/jwks"] = Answer(302, b"", {"Location": "http://169.254.169.254/"})
    with pytest.raises(FetchRefused, match="302"):
        fetch_json(server.url("/jwks"), max_bytes=1000, allow_loopback=True)
    assert len(server.requests) == 1


def test_a_huge_document_is_refused_by_its_declared_length(server: HostileServer) -> None:
    server.answers["/big"] = Answer(body=b'{"a": "' + b"x" * 60_000 + b'"}')
    with pytest.raises(FetchRefused, match="larger than 50000"):
        fetch_json(server.url("/big"), max_bytes=50_000, allow_loopback=True)


def test_a_huge_document_without_a_length_is_cut_off(server: HostileServer) -> None:
    server.answers["/big"] = Answer(body=b'{"a": "' + b"x" * 600_000 + b'"}', declare_length=False)
    with pytest.raises(FetchRefused, match="larger than 5000"):
        fetch_json(server.url("/big"), max_bytes=5_000, allow_loopback=True)


def test_a_slow_sender_is_cut_off_by_the_total_deadline(server: HostileServer) -> None:
    # Each byte arrives well within the read timeout, the whole never within the total.
    server.answers["/slow"] = Answer(
        body=b'{"keys": []}' + b" " * 200, trickle=0.05, declare_length=False
    )
    started = time.monotonic()
    with pytest.raises(FetchRefused, match="too long"):
        fetch_json(server.url("/slow"), max_bytes=1000, allow_loopback=True, total_timeout=0.5)
    assert time.monotonic() - started < 3


def test_a_server_that_never_answers_times_out(
    server: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbound, "READ_TIMEOUT", 0.3)
    server.answers["/hang"] = Answer(delay=2)
    with pytest.raises(FetchRefused, match="too long"):
        fetch_json(server.url("/hang"), max_bytes=1000, allow_loopback=True)


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"[1, 2]", "application/json", "not a JSON object"),
        (b"{not json", "application/json", "not readable JSON"),
        (b"{}", "text/html", "application/json"),
    ],
)
def test_only_json_objects(
    server: HostileServer, body: bytes, content_type: str, reason: str
) -> None:
    server.answers["/doc"] = Answer(body=body, headers={"Content-Type": content_type})
    with pytest.raises(FetchRefused, match=reason):
        fetch_json(server.url("/doc"), max_bytes=1000, allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "https://user:pw@example.com/", "https://[::1"],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused):
        fetch_json(url, max_bytes=1000)


def test_unreachable_server_is_a_refusal_not_an_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(FetchRefused, match="reached"):
        fetch_json(f"http://127.0.0.1:{port}/x", max_bytes=1000, allow_loopback=True)
