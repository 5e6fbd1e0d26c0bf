"""Requests no browser would send, found by the fuzz tests: a 4xx or a normal page, never a 5xx."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("host", [".", "a..b"])
def test_an_invalid_host_header_is_a_plain_400(client, host):
    """RFC 9110 §7.2: a request with an invalid Host is answered 400 — without a page whose links
    cannot be built for that host."""
    response = client.get("/", headers={"Host": host})

    assert response.status_code == 400
    assert response.mimetype == "text/plain"


@pytest.mark.parametrize("body", ["false", '" "', "[1, 2]", "null", "{"])
def test_a_json_body_at_the_logout_endpoint_is_not_read_as_a_form(logged_in, body):
    """RP-initiated logout takes query or form parameters; a JSON body is neither, and it must
    not log anybody out (no confirmation was given)."""
    response = logged_in.post("/oauth/logout", data=body, content_type="application/json")

    assert response.status_code < 500
    assert logged_in.get("/account/apps").status_code == 200
