"""Generated junk at every endpoint of the resource API: junk tokens (and validly signed tokens
with junk claims), junk JSON, junk ids, cursors and limits. Never a 5xx, and a refused request
(4xx) changes no row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from hypothesis import assume, given
from hypothesis import strategies as st
from joserfc.errors import JoseError

from tests.resource_api.api_testing import ALL_SCOPES, AUDIENCE, ISSUER

from .conftest import api_snapshot
from .strategies import (
    SPECIAL,
    bearer_header,
    form_body,
    fuzz_settings,
    header_text,
    json_body,
    json_values,
    junk_text,
    pairs,
    path_segment,
    plausible,
    send,
)

EVENT = {
    "title": "Dentist",
    "description": "Bring the card",
    "starts_at": "2026-03-02T09:00:00+01:00",
    "ends_at": "2026-03-02T10:00:00+01:00",
}
times = plausible(
    "2026-03-02T09:00:00Z",
    "2026-03-02T09:00:00+01:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999+00:00",
    "0001-01-01T00:00:00Z",
    "2026-03-02T09:00:00",
    "2026-03-02",
    "2026-03-02T09:00:00+23:59",
).filter(lambda v: isinstance(v, str))
event_fields = st.fixed_dictionaries(
    {},
    optional={
        "title": plausible("Dentist", " ", "a" * 200, "a" * 201, "a\x00b").filter(
            lambda v: isinstance(v, str)
        )
        | json_values,
        "description": st.none() | junk_text | json_values,
        "starts_at": times | json_values,
        "ends_at": times | json_values,
        "id": json_values,
        "created_at": times,
        "owner_sub": junk_text,
    },
)


CLAIMS = {
    "sub": ["alice", "bob", "a" * 255, "a" * 256, "al\x00ice", "\ud800", "", " ", "\x01"],
    "scope": [ALL_SCOPES, "events:read", "events:write", "profile email", "", "\x00"],
    "aud": [AUDIENCE, [AUDIENCE], [AUDIENCE, "x"], "other"],
    "iss": [ISSUER, ISSUER + "/"],
    "client_id": ["calendar-app"],
    "exp": [2**31, 2**63, -1, 0, 1.5, "1"],
    "iat": [0, 2**63, "0"],
    "nbf": [2**63, "x"],
    "jti": ["j"],
    "name": ["Alice", "\x00"],
    "email": ["alice@example.com"],
    "email_verified": [True, "yes"],
}


@st.composite
def signed_tokens(draw: st.DrawFn, mint: Callable[..., str]) -> str:
    """Tokens the issuer's key really signed, with a few claims or header fields junk: what
    a buggy issuer could send, and the only junk that gets past the signature check."""
    claims: dict[str, Any] = {}
    if draw(st.booleans(), "junk sub"):
        # sub is the one claim that reaches the database (as owner_sub).
        claims["sub"] = draw(st.sampled_from(CLAIMS["sub"]) | SPECIAL | junk_text)
    for name in draw(st.lists(st.sampled_from(sorted(CLAIMS)), max_size=3, unique=True)):
        # None leaves the claim out.
        good = st.sampled_from(CLAIMS[name])
        claims[name] = draw(st.one_of(good, good, good, st.none(), json_values, SPECIAL))
    header = draw(
        st.just({})
        | st.fixed_dictionaries(
            {},
            optional={
                "typ": st.sampled_from(["at+jwt", "JWT", "application/at+jwt"]) | json_values,
                "kid": st.sampled_from(["fuzz-key", "other"]) | json_values,
                "crit": json_values,
            },
        ),
        "header",
    )
    try:
        return mint(header=header, **claims)
    except (JoseError, ValueError, TypeError):
        assume(False)  # joserfc refuses to sign it: no issuer could send it either
        raise  # unreachable


@pytest.fixture
def api(make_api: Callable[..., Flask], api_token: Callable[..., str]) -> dict[str, Any]:
    apps = {False: make_api(), True: make_api(INTROSPECTION=True)}
    good = api_token()
    http = apps[False].test_client()
    ids = []
    for sub in ("alice", "bob"):
        token = api_token(sub=sub)
        for _ in range(2):
            created = http.post(
                "/api/events", json=EVENT, headers={"Authorization": f"Bearer {token}"}
            )
            assert created.status_code == 201, created.data
            ids.append(str(created.get_json()["id"]))
    listed = http.get("/api/events?limit=1", headers={"Authorization": f"Bearer {good}"})
    return {
        "apps": apps,
        "good": good,
        "read_only": api_token(scope="events:read"),
        # Validly signed tokens whose claims have broken things before, drawn often.
        "odd": [api_token(sub=sub) for sub in CLAIMS["sub"]]
        + [api_token(scope=scope) for scope in CLAIMS["scope"]],
        "ids": ids,
        "cursor": listed.get_json()["next_cursor"],
    }


@given(data=st.data())
@fuzz_settings(400)
def test_resource_api(
    api: dict[str, Any], api_token: Callable[..., str], data: st.DataObject
) -> None:
    app = api["apps"][data.draw(st.booleans(), "introspection")]
    segment = data.draw(
        path_segment(*api["ids"], "0", "-1", "2147483648", "9" * 30, "9" * 5000), "id"
    )
    method, path = data.draw(
        st.sampled_from(
            [
                ("GET", "/api/me"),
                ("GET", "/api/events"),
                ("POST", "/api/events"),
                ("GET", f"/api/events/{segment}"),
                ("PATCH", f"/api/events/{segment}"),
                ("DELETE", f"/api/events/{segment}"),
                ("PUT", f"/api/events/{segment}"),
                ("GET", "/openapi.json"),
                ("OPTIONS", "/api/events"),
                ("GET", f"/{segment}"),
            ]
        ),
        "request",
    )
    token = data.draw(
        st.one_of(
            st.sampled_from([api["good"], api["read_only"]]),
            st.sampled_from(api["odd"]),
            signed_tokens(api_token),
            signed_tokens(api_token),
        ),
        "token",
    )
    authorization = data.draw(
        st.one_of(*[st.just(f"Bearer {token}")] * 6, st.none(), bearer_header(token)),
        "authorization",
    )
    fields = {
        "limit": plausible("1", "100", "101", "0", "-1", "9" * 10, "9" * 5000),
        "cursor": plausible(api["cursor"]),
    }
    if data.draw(st.integers(0, 5), "token in query") == 0:
        fields["access_token"] = plausible(token)  # refused, RFC 6750 §2.3 is off
    query = data.draw(st.just([]) | pairs(fields), "query")
    body, content_type = None, None
    if method in ("POST", "PATCH", "PUT"):
        if data.draw(st.integers(0, 3), "form body") > 0:
            body = data.draw(json_body(event_fields), "body")
            content_type = data.draw(
                plausible("application/json", "application/merge-patch+json", "text/json").filter(
                    lambda v: isinstance(v, str) and "\n" not in v and "\r" not in v
                )
                | header_text,
                "content type",
            )
        else:
            body, content_type = data.draw(form_body({"access_token": plausible(token)}), "body")
    headers = {"Authorization": authorization}
    if data.draw(st.integers(0, 5), "second authorization") == 0:
        headers["authorization"] = data.draw(header_text, "duplicate")
    send(
        app.test_client(),
        api_snapshot(app),
        method,
        path,
        query=_encode(query),
        body=body,
        content_type=content_type,
        headers=headers,
    )


def _encode(items: list) -> bytes:
    from .strategies import encode_pairs

    return encode_pairs(items)
