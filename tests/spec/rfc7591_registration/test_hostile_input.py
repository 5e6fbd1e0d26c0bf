"""Hostile registration and update bodies: 400 with an RFC 7591 §3.2.2 error, and nothing stored.

SPEC: bad input of any kind gets a 4xx in the RFC's error format, never a 5xx, and changes
nothing. Both databases matter here: PostgreSQL refuses NUL in text where SQLite does not.
"""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from authserver.extensions import db
from authserver.models import Client

from .test_registration import ENABLED, METADATA, manage, registered

METADATA_ERRORS = ("invalid_client_metadata", "invalid_redirect_uri")

#: Whole bodies that are JSON but not a JSON object.
NOT_AN_OBJECT = ['["a"]', '"x"', "1", "null", "true", "[]", "1.5"]

#: Bodies that are not JSON at all, or that no JSON parser should be asked to build.
NOT_JSON = {
    "garbage": b"not json",
    "truncated": b'{"client_name": "a"',
    "deeply-nested-array": b"[" * 10_000,
    "deeply-nested-in-field": b'{"client_name": ' + b"[" * 10_000,
    "deeply-nested-closed": b'{"x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    "invalid-utf8": b'{"client_name": "\xff\xfe"}',
    "too-large": json.dumps({**METADATA, "client_name": "x" * 100_000}).encode(),
}

#: Known metadata fields with a value of the wrong type or shape, each merged into good metadata.
BAD_FIELDS = {
    "scope-number": {"scope": 5},
    "scope-object": {"scope": {"openid": True}},
    "client_name-list": {"client_name": ["a"]},
    "client_name-null-byte": {"client_name": "Dyn\u0000App"},
    "client_name-control": {"client_name": "Dyn\x1b[31mApp"},
    "client_name-lone-surrogate": {"client_name": "Dyn\ud800App"},
    "client_name-huge": {"client_name": "x" * 60_000},
    "redirect_uris-string": {"redirect_uris": "https://x"},
    "redirect_uris-nested": {"redirect_uris": [["https://dyn.example.com/cb"]]},
    "redirect_uris-null-byte": {"redirect_uris": ["https://dyn.example.com/cb\u0000"]},
    "redirect_uris-huge": {"redirect_uris": ["https://dyn.example.com/" + "a" * 60_000]},
    "redirect_uris-many": {"redirect_uris": [f"https://d.example/{i}" for i in range(2_000)]},
    "grant_types-number": {"grant_types": [1]},
    "grant_types-nested": {"grant_types": [["authorization_code"]]},
    "grant_types-string": {"grant_types": "authorization_code"},
    "response_types-number": {"response_types": [1]},
    "response_types-string": {"response_types": "code"},
    "token_endpoint_auth_method-number": {"token_endpoint_auth_method": 5},
    "token_endpoint_auth_method-list": {"token_endpoint_auth_method": ["none"]},
    "post_logout_redirect_uris-number": {"post_logout_redirect_uris": 5},
    "post_logout_redirect_uris-string": {"post_logout_redirect_uris": "https://x"},
    "post_logout_redirect_uris-null-byte": {
        "post_logout_redirect_uris": ["https://dyn.example.com/bye\u0000"]
    },
    # RP-Initiated Logout §3.1: plain http only for confidential clients.
    "post_logout_redirect_uris-public-http": {
        "token_endpoint_auth_method": "none",
        "post_logout_redirect_uris": ["http://dyn.example.com/bye"],
    },
    "scope-null-byte": {"scope": "openid\u0000profile"},
    "scope-huge": {"scope": "openid " * 8_000},
    "contacts-number": {"contacts": [1]},
    "client_uri-number": {"client_uri": 5},
    "logo_uri-list": {"logo_uri": ["https://x"]},
    "software_id-object": {"software_id": {"a": 1}},
    "jwks-string": {"jwks": "x"},
    "jwks-keys-number": {"jwks": {"keys": 5}},
    "jwks-bad-key": {"jwks": {"keys": [{"kty": 5}]}},
}


@pytest.fixture
def app_config() -> dict:
    return ENABLED


def client_rows(app: Flask) -> list[dict]:
    """Every stored column of every client: what "nothing stored or changed" compares."""
    with app.app_context():
        rows = db.session.scalars(select(Client).order_by(Client.id)).all()
        columns = [c.key for c in Client.__table__.columns]
        return [{c: getattr(row, c) for c in columns} for row in rows]


def post_raw(
    http: FlaskClient, body: bytes | str, path: str = "/oauth/register", **kw
) -> TestResponse:
    return http.open(
        path,
        method=kw.pop("method", "POST"),
        data=body,
        content_type=kw.pop("content_type", "application/json"),
        **kw,
    )


def assert_metadata_error(response: TestResponse) -> dict:
    """RFC 7591 §3.2.2: HTTP 400 and a JSON body whose ``error`` is one of its codes."""
    assert response.status_code == 400, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] in METADATA_ERRORS, body
    return body


# --- POST /oauth/register ----------------------------------------------------------------------


@pytest.mark.parametrize("body", NOT_AN_OBJECT)
def test_a_registration_body_that_is_not_a_json_object_is_refused(app, client, body):
    """The client sends ... the client metadata ... as top-level members of a JSON object —
    RFC 7591 §3.1; anything else is invalid_client_metadata (§3.2.2), and nothing is stored."""
    assert_metadata_error(post_raw(client, body))
    assert client_rows(app) == []


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_a_registration_body_that_is_not_json_is_refused(app, client, body):
    """The client sends an HTTP POST ... with a content type of application/json — RFC 7591
    §3.1; a body no JSON parser accepts within bounds is a 400, never a 5xx (SPEC)."""
    assert_metadata_error(post_raw(client, body))
    assert client_rows(app) == []


def test_a_registration_that_is_not_application_json_is_refused(app, client):
    """The HTTP POST has a content type of application/json — RFC 7591 §3.1."""
    response = post_raw(client, json.dumps(METADATA), content_type="text/plain")
    assert_metadata_error(response)
    form = client.post("/oauth/register", data={"client_name": "Form App"})
    assert_metadata_error(form)
    assert client_rows(app) == []


@pytest.mark.parametrize("field", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_a_metadata_field_of_the_wrong_type_is_invalid_client_metadata(app, client, field):
    """invalid_client_metadata: The value of one of the client metadata fields is invalid and the
    server has rejected this request — RFC 7591 §3.2.2; strings are strings a database can keep,
    arrays are arrays of strings (§2), and nothing is stored."""
    assert_metadata_error(client.post("/oauth/register", json={**METADATA, **field}))
    assert client_rows(app) == []


def test_unknown_fields_are_ignored_whatever_their_shape(app, client):
    """The authorization server MUST ignore any client metadata sent by the client that it does
    not understand — RFC 7591 §2."""
    junk = {"x-nested": [[[["deep"]]]], "x-null": "a\u0000b", "x-number": 5, "x-none": None}
    response = client.post("/oauth/register", json={**METADATA, **junk})
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert not set(junk) & set(body)
    assert len(client_rows(app)) == 1


# --- PUT /oauth/register/<client_id> -----------------------------------------------------------


@pytest.mark.parametrize("body", NOT_AN_OBJECT)
def test_an_update_body_that_is_not_a_json_object_is_refused(app, client, body):
    """Client Update Request: the client ... sends an HTTP PUT ... with the client's metadata as
    a JSON object — RFC 7592 §2.2; errors as in RFC 7591 §3.2.2, and nothing changes."""
    reg = registered(client)
    before = client_rows(app)
    assert_metadata_error(post_raw(client, body, _path(reg), method="PUT", headers=_auth(reg)))
    assert client_rows(app) == before


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_an_update_body_that_is_not_json_is_refused(app, client, body):
    """RFC 7592 §2.2: the update is a JSON document; a body that is not one is a 400, never a
    5xx (SPEC), and the registration is unchanged."""
    reg = registered(client)
    before = client_rows(app)
    assert_metadata_error(post_raw(client, body, _path(reg), method="PUT", headers=_auth(reg)))
    assert client_rows(app) == before


@pytest.mark.parametrize("field", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_an_update_field_of_the_wrong_type_is_refused_and_changes_nothing(app, client, field):
    """RFC 7592 §2.2: the same errors as RFC 7591 §3.2.2 ... and the client's registration is
    left as it was."""
    reg = registered(client)
    before = client_rows(app)
    payload = {"client_id": reg["client_id"], **METADATA, **field}
    assert_metadata_error(manage(client, reg, "PUT", json=payload))
    assert client_rows(app) == before


@pytest.mark.parametrize(
    "field",
    [{"client_id": 5}, {"client_id": [1]}, {"client_secret": 5}, {"client_secret": ["x"]}],
    ids=["client_id-number", "client_id-list", "client_secret-number", "client_secret-list"],
)
def test_an_update_naming_the_client_with_the_wrong_type_is_refused(app, client, field):
    """The client MUST include its client_id field in the request, and it MUST be the same as
    its currently issued client identifier. If the client includes the client_secret field in
    the request, the value of this field MUST match the currently issued client secret —
    RFC 7592 §2.2; a number or an array matches neither: a 400, and nothing changes."""
    reg = registered(client)
    before = client_rows(app)
    payload = {"client_id": reg["client_id"], **METADATA, **field}
    response = manage(client, reg, "PUT", json=payload)
    assert response.status_code == 400, (response.status_code, response.data[:300])
    assert response.get_json()["error"] in (*METADATA_ERRORS, "invalid_request")
    assert client_rows(app) == before


def _path(reg: dict) -> str:
    return reg["registration_client_uri"].removeprefix("http://127.0.0.1:5000")


def _auth(reg: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {reg['registration_access_token']}"}
