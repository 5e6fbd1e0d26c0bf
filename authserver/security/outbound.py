"""The one way this server fetches a document named by someone else: a client's ``jwks_uri``,
a Client ID Metadata Document. Whoever registers the URL chooses where we connect, so every
fetch is held to the same guards against server-side request forgery (RFC 9700 §4.2.4 of the
risks, OWASP's SSRF sheet for the list):

- ``https`` only (plain ``http`` and loopback addresses only when the caller allows it: tests
  and development);
- the host is resolved once and every address it resolves to must be a public unicast one (no
  private, loopback, link-local, multicast, reserved or unspecified address, IPv4 or IPv6,
  including IPv4-mapped, 6to4 and Teredo forms of those); the connection goes to the vetted
  address itself, so a second DNS answer (rebinding) never gets a say;
- no redirects (a 3xx is a refusal, not a hop to wherever it points);
- bounded size (the body is read up to ``max_bytes`` and refused beyond) and time (connect and
  each read are bounded, and so is the whole exchange);
- JSON objects only.

Every failure is a :class:`FetchRefused` whose message says why, in words safe to show the
client that registered the URL (never a response body).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode, urlsplit

#: Sizes the callers use: a client's key set, a metadata document.
JWKS_MAX_BYTES = 50_000
METADATA_MAX_BYTES = 5_000
#: Seconds: to connect, for any one read, and for the whole exchange.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 2.0
TOTAL_TIMEOUT = 5.0

_CHUNK = 4096
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchRefused(Exception):
    """The document could not be had, or was refused; the message says why."""


@dataclass(frozen=True)
class Fetched:
    document: dict
    #: Seconds the sender lets us keep it (``Cache-Control: max-age``); None: it did not say;
    #: 0: ``no-store`` or ``no-cache``.
    max_age: int | None = None
    #: The answer's ``Expires`` and ``Date`` headers (RFC 9111 §5.3, RFC 9110 §6.6.1), when
    #: present and readable; an unreadable ``Expires`` means "already expired" (RFC 9111 §5.3).
    expires: datetime | None = None
    date: datetime | None = None


def address_problem(address: IPAddress, allow_loopback: bool = False) -> str | None:
    """Why connecting to ``address`` is refused, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            return address_problem(embedded, allow_loopback)
    if address.is_loopback:
        return None if allow_loopback else "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_multicast:
        return "is a multicast address"
    if address.is_unspecified or address.is_reserved:
        return "is a reserved address"
    if address.is_private or not address.is_global:
        return "is a private address"
    return None


def vetted_address(host: str, port: int, allow_loopback: bool = False) -> str:
    """The one address of ``host`` to connect to; refused unless every address it resolves to
    is allowed (a name with one private address among public ones is refused as a whole)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise FetchRefused(f"The host {host!r} does not resolve.") from error
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise FetchRefused(f"The host {host!r} does not resolve.")
    for address in addresses:
        problem = address_problem(address, allow_loopback)
        if problem:
            raise FetchRefused(f"The host {host!r} resolves to {address}, which {problem}.")
    return str(addresses[0])


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to a vetted address, with the certificate checked for the URL's host name."""

    def __init__(self, host: str, port: int, address: str, tls: bool) -> None:
        self._tls_context = ssl.create_default_context()
        super().__init__(host, port, timeout=CONNECT_TIMEOUT, context=self._tls_context)
        self._address = address
        self._tls = tls

    # http.client would resolve the host name again (a rebinding window); connect to the
    # address that was vetted instead.
    def connect(self) -> None:
        family = socket.AF_INET6 if ":" in self._address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect((self._address, self.port))  # an address: nothing is resolved here
            sock.settimeout(READ_TIMEOUT)
        except OSError:
            sock.close()
            raise
        if self._tls:
            sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def _checked_url(url: str, allow_loopback: bool) -> tuple[str, int, str, bool]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise FetchRefused("The URL is malformed.") from error
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise FetchRefused("The URL must be an https URL.")
    if parts.scheme == "http" and not allow_loopback:
        raise FetchRefused("The URL must be an https URL.")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("The URL must not carry credentials.")
    tls = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port or (443 if tls else 80), target, tls


def fetch_json(
    url: str,
    *,
    max_bytes: int,
    allow_loopback: bool = False,
    total_timeout: float = TOTAL_TIMEOUT,
) -> Fetched:
    """GET ``url`` under the guards above; the JSON object it answers with."""
    connection, target = _pinned_connection(url, allow_loopback)
    deadline = time.monotonic() + total_timeout
    try:
        connection.request(
            "GET",
            target,
            headers={"Accept": "application/json", "Accept-Encoding": "identity"},
        )
        response = connection.getresponse()
        if response.status != 200:
            kind = "redirects, which are not followed" if 300 <= response.status < 400 else ""
            raise FetchRefused(
                f"The server answered {response.status}{' ' + kind if kind else ''}."
            )
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise FetchRefused("The server did not answer with application/json.")
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise FetchRefused(f"The document is larger than {max_bytes} bytes.")
        body = _read_bounded(connection, response, max_bytes, deadline)
        max_age = _max_age(response.getheader("Cache-Control") or "")
        date = _http_date(response.getheader("Date"))
        expires_header = response.getheader("Expires")
        expires = _http_date(expires_header)
        if expires_header is not None and expires is None:
            expires = date or datetime.fromtimestamp(0, UTC)
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        raise _unreachable(error) from error
    finally:
        connection.close()
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise FetchRefused("The document is not readable JSON.") from error
    if not isinstance(document, dict):
        raise FetchRefused("The document is not a JSON object.")
    return Fetched(document, max_age, expires, date)


def post_form(
    url: str,
    fields: dict[str, str],
    *,
    allow_loopback: bool = False,
    total_timeout: float = TOTAL_TIMEOUT,
    max_bytes: int = METADATA_MAX_BYTES,
) -> int:
    """POST ``fields`` form-encoded to ``url`` under the same guards as ``fetch_json`` (public
    addresses, the vetted address connected to, no redirects followed, time and size bounds);
    the answer's status. Whatever the answer says is read (bounded) and dropped."""
    connection, target = _pinned_connection(url, allow_loopback)
    deadline = time.monotonic() + total_timeout
    try:
        connection.request(
            "POST",
            target,
            body=urlencode(fields).encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept-Encoding": "identity",
            },
        )
        response = connection.getresponse()
        _read_bounded(connection, response, max_bytes, deadline)
        return response.status
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        raise _unreachable(error) from error
    finally:
        connection.close()


def _pinned_connection(url: str, allow_loopback: bool) -> tuple[_PinnedConnection, str]:
    """A connection to the vetted address of ``url``'s host, and the request target."""
    host, port, target, tls = _checked_url(url, allow_loopback)
    address = vetted_address(host, port, allow_loopback)
    if not tls and not ipaddress.ip_address(address).is_loopback:
        # Plain http only ever reaches a loopback address (the caller allowed it for tests).
        raise FetchRefused("The URL must be an https URL.")
    return _PinnedConnection(host, port, address, tls), target


def _unreachable(error: Exception) -> FetchRefused:
    if isinstance(error, TimeoutError | socket.timeout):
        return FetchRefused("The server took too long to answer.")
    return FetchRefused("The server could not be reached.")


def _read_bounded(
    connection: http.client.HTTPConnection,
    response: http.client.HTTPResponse,
    max_bytes: int,
    deadline: float,
) -> bytes:
    body = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchRefused("The server took too long to answer.")
        if connection.sock is not None:
            connection.sock.settimeout(min(READ_TIMEOUT, remaining))
        chunk = response.read1(_CHUNK)
        if not chunk:
            return body
        body += chunk
        if len(body) > max_bytes:
            raise FetchRefused(f"The document is larger than {max_bytes} bytes.")


def _max_age(cache_control: str) -> int | None:
    if _NO_STORE.search(cache_control):
        return 0
    found = _MAX_AGE.search(cache_control)
    return int(found.group(1)) if found else None


def _http_date(value: str | None) -> datetime | None:
    """An HTTP date (IMF-fixdate or the obsolete forms) as an aware UTC datetime, or None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
