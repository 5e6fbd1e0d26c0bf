"""The fallback load generator when wrk cannot be had: asyncio, N connections, one process.

It feeds single-use material exactly like the Lua scripts (see bench/endpoints.py), but it is
Python sharing the machine's cores with the servers, so it saturates sooner than wrk does; the
settings line says which generator measured.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from urllib.parse import urlsplit

from .endpoints import Endpoint, form_encode
from .report import Result


class _Feed:
    """Hands out items the way the endpoint's kind says (shared by all connections)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.items = list(endpoint.items)
        self.cycle = itertools.cycle(self.items) if endpoint.kind == "cycle" else None
        self.exhausted = False
        self.starved = 0
        self.regex = endpoint.chain_regex() if endpoint.kind == "chain" else None

    def next_item(self) -> str | None:
        kind = self.endpoint.kind
        if kind == "static":
            return None
        if kind == "cycle":
            return next(self.cycle)  # type: ignore[arg-type]
        if kind == "pop":
            if not self.items:
                self.exhausted = True
                raise LookupError("out of items")
            return self.items.pop()
        if not self.items:
            self.starved += 1
            return "starved"
        return self.items.pop()

    def answered(self, body: bytes) -> None:
        if self.regex is not None:
            match = self.regex.search(body.decode("utf-8", "replace"))
            if match:
                self.items.append(form_encode(match.group(1)))


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length, chunked, close = None, False, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            close = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(parts)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body, close = await reader.read(), True
    return status, close, body


async def _drive(endpoint: Endpoint, base_url: str, duration: float, connections: int) -> Result:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    feed = _Feed(endpoint)
    latencies: list[float] = []
    counters = {"non2xx": 0, "errors": 0}
    deadline = time.perf_counter() + duration

    def encode_request(item: str | None) -> bytes:
        path, headers, body = endpoint.render(item)
        lines = [f"{endpoint.method} {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or endpoint.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    async def connection() -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                request = encode_request(feed.next_item())
            except LookupError:
                return
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                await writer.drain()
                status, close, body = await asyncio.wait_for(_read_response(reader), 10)
            except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError):
                counters["errors"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            latencies.append(time.perf_counter() - started)
            if not 200 <= status <= 299:
                counters["non2xx"] += 1
            feed.answered(body)
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    seconds = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return Result(
        requests=len(latencies),
        seconds=seconds,
        rps=len(latencies) / seconds if seconds else 0.0,
        p50_ms=percentile(50),
        p99_ms=percentile(99),
        non2xx=counters["non2xx"],
        errors=counters["errors"],
        exhausted=feed.exhausted,
        starved=feed.starved,
    )


def run(endpoint: Endpoint, base_url: str, duration: float, connections: int) -> Result:
    return asyncio.run(_drive(endpoint, base_url, duration, connections))
