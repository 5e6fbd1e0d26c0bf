"""The device grant's and token exchange's rules in ``policy`` (RFC 8628, RFC 8693)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from authserver import policy

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "typed", ["BCDF-GHJK", "bcdfghjk", " bcdf-ghjk ", "Bc-Df-Gh-Jk", "BCDF\tGHJK"]
)
def test_user_codes_ignore_case_dashes_and_spaces(typed):
    assert policy.normalize_user_code(typed) == "BCDFGHJK"


@pytest.mark.parametrize(
    "typed", [None, "", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "Ｂ" * 8, "B" * 41]
)
def test_anything_else_is_no_user_code(typed):
    assert policy.normalize_user_code(typed) is None


def test_the_alphabet_has_no_vowels_and_codes_are_shown_in_two_halves():
    assert not set("AEIOUY") & set(policy.USER_CODE_ALPHABET)
    assert len(set(policy.USER_CODE_ALPHABET)) == 20
    assert policy.format_user_code("BCDFGHJK") == "BCDF-GHJK"


def test_polling_sooner_than_the_interval_is_too_fast():
    assert not policy.polls_too_fast(NOW, None, 5)
    assert policy.polls_too_fast(NOW, NOW - timedelta(seconds=4), 5)
    assert not policy.polls_too_fast(NOW, NOW - timedelta(seconds=5), 5)
    assert policy.polls_too_fast(NOW, NOW - timedelta(seconds=9), 10)


def test_a_client_may_exchange_only_what_was_sent_to_it():
    own = ["urn:authserver:client:mcp", "https://mcp.example/"]
    assert policy.may_exchange(["urn:authserver:client:mcp"], own)
    assert policy.may_exchange(["https://other.example/", "https://mcp.example/"], own)
    assert not policy.may_exchange(["http://127.0.0.1:5001"], own)
    assert not policy.may_exchange([], own)


def test_exchanged_scope_is_the_same_or_narrower():
    assert policy.exchanged_scope("openid events:read", None) == "openid events:read"
    assert policy.exchanged_scope("openid events:read", "events:read") == "events:read"
    assert policy.exchanged_scope("openid events:read", "events:write") is None
    assert policy.exchanged_scope("", None) is None


def test_act_names_the_client_and_nests_earlier_actors():
    assert policy.actor_claim("b", None) == {"sub": "b"}
    assert policy.actor_claim("c", {"sub": "b"}) == {"sub": "c", "act": {"sub": "b"}}


def test_the_token_endpoint_admits_each_grants_methods():
    assert policy.auth_methods(policy.TOKEN_EXCHANGE_GRANT) == list(policy.CONFIDENTIAL_METHODS)
    assert "none" in policy.auth_methods(policy.DEVICE_CODE_GRANT)
    assert "none" in policy.auth_methods("device_authorization")
