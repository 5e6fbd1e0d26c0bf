"""A ``requests`` transport adapter that answers from a WSGI app in-process.

Mounted on the resource API's ``IssuerClient.session``, it lets the API talk to an issuer (the
fake one here, or the real authorization server's ``create_app()``) without a network.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.test import Client


@dataclass
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: Any


class WSGITransport(BaseAdapter):
    """Dispatches each request to ``app`` through werkzeug's test client."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.client = Client(app, use_cookies=False)
        #: Every request sent, in order, with the timeout it was sent with.
        self.sent: list[SentRequest] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = dict(request.headers)
        self.sent.append(
            SentRequest(request.method or "GET", request.url or "", headers, body, timeout)
        )
        url = urlsplit(request.url or "")
        answer = self.client.open(
            url.path or "/",
            base_url=f"{url.scheme}://{url.netloc}",
            query_string=url.query,
            method=request.method,
            headers=list(headers.items()),
            data=body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(answer.headers.items())
        response.raw = io.BytesIO(answer.get_data())
        response.encoding = get_encoding_from_headers(response.headers)
        response.url = request.url or ""
        response.request = request
        answer.close()
        return response

    def close(self) -> None:
        pass

    def calls_to(self, path: str) -> list[SentRequest]:
        return [sent for sent in self.sent if urlsplit(sent.url).path == path]


class UnreachableTransport(BaseAdapter):
    """An issuer that never answers: every request fails as a refused connection would."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.attempts += 1
        raise requests.ConnectionError(f"connection refused: {request.url}")

    def close(self) -> None:
        pass


def session_for(app: Any, session: requests.Session | None = None) -> requests.Session:
    """A requests session (a third-party client's, say) whose every request goes to ``app``."""
    session = session or requests.Session()
    transport = WSGITransport(app)
    session.mount("http://", transport)
    session.mount("https://", transport)
    return session
