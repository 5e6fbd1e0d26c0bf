"""Single-use material, made over HTTP the way a client app and a person make it.

Log in once and consent once (as a browser would), then ask ``/oauth/authorize`` again for each
code (consent is stored, so the answer is a 302 with a code); exchange codes for refresh and
access tokens at ``/oauth/token``.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    if not match:
        raise RuntimeError("no csrf_token in the page")
    return match.group(1) or match.group(2)


def _code_from(response: requests.Response) -> str:
    if response.status_code not in (302, 303):
        raise RuntimeError(f"authorize answered {response.status_code}, not a redirect")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    if "code" not in query:
        raise RuntimeError(f"no code in {response.headers['Location']}")
    return query["code"][0]


class Browser:
    """A logged-in person who has consented once to the bench client."""

    def __init__(self, issuer: str, credentials: dict, scope: str) -> None:
        self.issuer = issuer
        self.credentials = credentials
        self.scope = scope
        params = {
            "response_type": "code",
            "client_id": credentials["client_id"],
            "redirect_uri": credentials["redirect_uri"],
            "scope": scope,
            "state": "bench",
        }
        self.authorize_path = "/oauth/authorize?" + urlencode(params)
        self.session = requests.Session()

    def login_and_consent(self) -> str:
        """Returns the first code."""
        session, issuer = self.session, self.issuer
        login = session.get(f"{issuer}/login", params={"next": self.authorize_path}, timeout=30)
        response = session.post(
            f"{issuer}/login?" + urlencode({"next": self.authorize_path}),
            data={
                "email": self.credentials["email"],
                "password": self.credentials["password"],
                "csrf_token": _csrf(login.text),
            },
            allow_redirects=False,
            timeout=30,
        )
        if response.status_code not in (302, 303):
            raise RuntimeError(f"login answered {response.status_code}")
        consent = session.get(issuer + self.authorize_path, allow_redirects=False, timeout=30)
        if consent.status_code in (302, 303):
            return _code_from(consent)  # consent already stored
        form = [("scope", scope) for scope in self.scope.split()]
        form += [("decision", "allow"), ("csrf_token", _csrf(consent.text))]
        response = session.post(
            issuer + self.authorize_path, data=form, allow_redirects=False, timeout=30
        )
        return _code_from(response)

    def codes(self, count: int, parallel: int = 8) -> list[str]:
        """``count`` fresh codes: repeat authorization requests with the stored consent."""
        if count <= 0:
            return []
        parallel = max(1, min(parallel, count))

        def collect(share: int) -> list[str]:
            session = requests.Session()
            session.cookies.update(self.session.cookies)
            url = self.issuer + self.authorize_path
            return [
                _code_from(session.get(url, allow_redirects=False, timeout=30))
                for _ in range(share)
            ]

        shares = [count // parallel + (1 if i < count % parallel else 0) for i in range(parallel)]
        with ThreadPoolExecutor(parallel) as pool:
            return [code for batch in pool.map(collect, shares) for code in batch]

    def exchange(self, code: str, dpop: str | None = None) -> dict:
        """The token response for ``code``; bound to a key (RFC 9449) when ``dpop`` is a proof."""
        response = requests.post(
            f"{self.issuer}/oauth/token",
            auth=(self.credentials["client_id"], self.credentials["client_secret"]),
            headers={"DPoP": dpop} if dpop else None,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.credentials["redirect_uri"],
            },
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"code exchange answered {response.status_code}: {response.text}")
        return response.json()

    def tokens(self, count: int, parallel: int = 4) -> list[dict]:
        """``count`` token responses (access token, refresh token) from fresh codes."""
        codes = self.codes(count, parallel)
        with ThreadPoolExecutor(max(1, min(parallel, count))) as pool:
            return list(pool.map(self.exchange, codes))


def create_events(api: str, access_token: str, count: int) -> None:
    """A few events, so the list endpoint has data to page through."""
    for index in range(count):
        day = 1 + index % 28
        response = requests.post(
            f"{api}/api/events",
            headers={"Authorization": f"Bearer {access_token}"},
            json={
                "title": f"Bench event {index}",
                "description": "Made by python -m bench.",
                "starts_at": f"2030-01-{day:02d}T09:00:00Z",
                "ends_at": f"2030-01-{day:02d}T10:00:00Z",
            },
            timeout=30,
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/events answered {response.status_code}")
