"""Calls to the resource API (the person's calendar), each with an exchanged token."""

from __future__ import annotations

from typing import Any

import httpx2

from .config import Settings


class ApiProblem(Exception):
    """The API refused a call; the message is what a person (or a model) can act on."""


class CalendarApi:
    def __init__(self, settings: Settings, http: httpx2.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        access_token: str,
        json: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> Any:
        try:
            response = await self.http.request(
                method,
                self.settings.api_url + path,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx2.HTTPError as error:
            raise ApiProblem(f"the calendar API could not be reached: {error}") from None
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            return body
        # The API's errors are JSON with an RFC 6750-style error and its description.
        detail = None
        if isinstance(body, dict):
            detail = body.get("error_description") or body.get("error")
        status = response.status_code
        raise ApiProblem(f"the calendar API answered {status}: {detail or 'no detail'}")
