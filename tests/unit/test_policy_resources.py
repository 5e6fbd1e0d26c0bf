"""The RFC 8707 rules in ``policy``: which resources, and what a token request may narrow."""

from __future__ import annotations

import pytest

from authserver import policy

A, B, C = "https://a.example/", "https://b.example/api", "https://c.example/"


def test_without_a_request_the_audience_is_everything_granted():
    assert policy.audience_for([], [A, B]) == [A, B]


def test_a_request_may_narrow():
    assert policy.audience_for([B], [A, B]) == [B]
    assert policy.audience_for([B, B], [A, B]) == [B]


def test_a_request_may_not_widen():
    assert policy.audience_for([C], [A, B]) is None
    assert policy.audience_for([A, C], [A, B]) is None


def test_one_audience_is_a_string_several_a_list():
    assert policy.audience_claim([A]) == A
    assert policy.audience_claim([A, B]) == [A, B]


def test_permitted_resources_are_the_default_and_the_configured_ones():
    assert policy.permitted_resources(A, f"{B}  {C}") == {A, B, C}
    assert policy.permitted_resources(A, None) == {A}


@pytest.mark.parametrize(
    "resource", ["", "no-scheme", f"{A}#part", "https://x/" + "a" * 500, "https://x/\n", "a b:c"]
)
def test_malformed_resources(resource):
    assert policy.resource_problem([resource]) is not None


@pytest.mark.parametrize("resource", [A, B, "urn:authserver:client:abc", "http://127.0.0.1:5001"])
def test_wellformed_resources(resource):
    assert policy.resource_problem([resource]) is None


def test_a_token_exchange_client_is_a_resource():
    assert policy.client_resource("abc") == "urn:authserver:client:abc"
