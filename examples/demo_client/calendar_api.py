"""Calls to the resource API (the person's calendar) with the signed-in browser's token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from flask import current_app

from .oauth import configure_session


@dataclass
class ApiAnswer:
    status: int
    body: Any
    #: The RFC 6750 error from ``WWW-Authenticate`` (invalid_token, insufficient_scope), if any.
    bearer_error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def call(method: str, path: str, access_token: str, json: Any = None) -> ApiAnswer:
    url = current_app.config["API_URL"] + path
    with configure_session(requests.Session()) as session:
        response = session.request(
            method,
            url,
            json=json,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=current_app.config["HTTP_TIMEOUT"],
            allow_redirects=False,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    return ApiAnswer(response.status_code, body, _bearer_error(response))


def _bearer_error(response: requests.Response) -> str | None:
    challenge = response.headers.get("WWW-Authenticate", "")
    if not challenge.lower().startswith("bearer"):
        return None
    for part in challenge[len("bearer") :].split(","):
        name, _, value = part.strip().partition("=")
        if name.strip() == "error":
            return value.strip().strip('"')
    return None
