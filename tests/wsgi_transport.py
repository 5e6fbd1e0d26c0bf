"""A ``requests`` transport that hands each request to a WSGI app in-process.

Third-party client libraries (requests-oauthlib, Authlib's client) then talk to the real server
exactly as over the network, with no socket and no port.
"""

from __future__ import annotations

from io import BytesIO
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from werkzeug.test import Client


class WSGITransport(BaseAdapter):
    def __init__(self, wsgi_app) -> None:  # noqa: ANN001
        super().__init__()
        self.client = Client(wsgi_app)

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:  # noqa: ANN003
        parts = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        answer = self.client.open(
            path=parts.path,
            query_string=parts.query,
            method=request.method,
            headers=dict(request.headers),
            data=body or b"",
            base_url=f"{parts.scheme}://{parts.netloc}",
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = requests.structures.CaseInsensitiveDict(answer.headers)
        response.raw = BytesIO(answer.get_data())
        response.url = request.url
        response.request = request
        response.reason = answer.status.split(" ", 1)[1] if " " in answer.status else ""
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def session_for(wsgi_app, session: requests.Session | None = None) -> requests.Session:  # noqa: ANN001
    session = session or requests.Session()
    transport = WSGITransport(wsgi_app)
    session.mount("http://", transport)
    session.mount("https://", transport)
    return session
