"""The rules in ``authserver.policy``, as plain functions of plain values: no app, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from authserver import policy
from authserver.policy import Lifetimes, LoginRequirement, RefreshVerdict

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIFE = Lifetimes(
    access_token=600, id_token=600, code=60, refresh_token=30 * 86400, refresh_family=90 * 86400
)


# --- issue_refresh_token ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant_types", "granted", "expected"),
    [
        (["authorization_code", "refresh_token"], ["openid", "offline_access"], True),
        (["authorization_code", "refresh_token"], ["openid", "profile"], False),
        (["authorization_code"], ["openid", "offline_access"], False),
        (["client_credentials"], ["events:read"], False),
        ([], [], False),
    ],
)
def test_a_refresh_token_needs_the_grant_and_the_persons_offline_access(
    grant_types, granted, expected
):
    """OIDC Core §11: offline_access requests a refresh token; SPEC: AND the refresh grant."""
    assert policy.issue_refresh_token(grant_types, granted) is expected


# --- scopes ----------------------------------------------------------------------------------


def test_client_credentials_scope_is_registered_and_not_about_a_person():
    registered = "openid profile events:read events:write"
    assert policy.client_credentials_scope(registered, None) == "events:read events:write"
    assert policy.client_credentials_scope(registered, "events:read") == "events:read"
    assert policy.client_credentials_scope(registered, "profile") is None
    assert policy.client_credentials_scope("openid", None) is None


def test_a_refresh_narrows_and_follows_the_clients_current_scope():
    """RFC 6749 §6: narrower is fine; a scope the client lost is not issued any more."""
    granted = "openid profile events:read"
    client = "openid profile events:read events:write"
    assert policy.refreshed_scope(granted, None, client) == granted
    assert policy.refreshed_scope(granted, "events:read", client) == "events:read"
    assert policy.refreshed_scope(granted, None, "openid") == "openid"
    assert policy.refreshed_scope(granted, "events:read", "openid") is None


def test_granted_scopes_keep_openid_and_drop_what_was_not_asked():
    requested = ["openid", "profile", "events:read"]
    assert policy.granted_scopes(requested, ["events:read", "events:write"]) == [
        "openid",
        "events:read",
    ]
    assert policy.granted_scopes(["profile"], []) == []


# --- consent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "requested", "prompts", "ask"),
    [
        (None, ["openid"], [], True),  # never asked
        (["openid", "profile"], ["openid"], [], False),  # covered
        (["openid"], ["openid", "profile"], [], True),  # something new: incremental consent
        (["openid", "profile"], ["openid"], ["consent"], True),  # the app asks to ask again
        ([], ["openid"], [], True),
    ],
)
def test_consent_is_asked_unless_everything_was_granted_before(earlier, requested, prompts, ask):
    assert policy.must_ask_consent(earlier, requested, prompts) is ask


# --- logging in ------------------------------------------------------------------------------


def log_in(
    prompt_login: bool = False,
    max_age: int | None = None,
    hint_subject: str | None = None,
    **overrides: object,
) -> bool:
    arguments = {
        "logged_in_subject": "alice",
        "auth_time": NOW - timedelta(minutes=10),
        "now": NOW,
        "requirement": LoginRequirement(prompt_login, max_age, hint_subject),
    }
    arguments.update(overrides)
    return policy.must_log_in(**arguments)


def test_nobody_logged_in_must_log_in():
    assert log_in(logged_in_subject=None) is True
    assert log_in(logged_in_subject=None, fresh_login_for_this_request=True) is True


def test_a_logged_in_person_goes_on():
    assert log_in() is False


def test_prompt_login_asks_again():
    assert log_in(prompt_login=True) is True


@pytest.mark.parametrize(
    ("max_age", "expected"), [(0, True), (300, True), (600, False), (3600, False)]
)
def test_max_age_is_measured_from_the_login(max_age, expected):
    """OIDC Core §3.1.2.1: older than max_age seconds means a fresh login; 0 is prompt=login."""
    assert log_in(max_age=max_age) is expected


def test_a_hint_for_someone_else_asks_who_is_here():
    assert log_in(hint_subject="bob") is True
    assert log_in(hint_subject="alice") is False


@pytest.mark.parametrize(
    "requirement",
    [{"prompt_login": True}, {"max_age": 0}, {"max_age": 60}, {"hint_subject": "bob"}],
)
def test_the_login_made_for_this_request_is_the_one_asked_for(requirement):
    """After the login page's round trip, asking again would loop; the hint is answered apart."""
    assert log_in(**requirement) is True
    assert log_in(**requirement, fresh_login_for_this_request=True) is False


def test_a_hint_names_someone_else_only_when_it_names_another_subject():
    assert policy.hint_names_someone_else(LoginRequirement(hint_subject="bob"), "alice")
    assert not policy.hint_names_someone_else(LoginRequirement(hint_subject="alice"), "alice")
    assert not policy.hint_names_someone_else(LoginRequirement(), "alice")


def test_a_remembered_requirement_is_never_loosened_by_the_request_sent_again():
    remembered = LoginRequirement(prompt_login=True, max_age=60, hint_subject="bob")
    again = LoginRequirement(max_age=3600, hint_subject="alice")
    assert again.joined(remembered) == remembered
    assert LoginRequirement().joined(remembered) == remembered
    assert LoginRequirement(max_age=10).joined(remembered).max_age == 10
    assert LoginRequirement(hint_subject="carol").joined(None).hint_subject == "carol"
    assert not LoginRequirement().asks_anything()
    assert LoginRequirement(max_age=0).asks_anything()


@pytest.mark.parametrize(
    ("hint", "vouches"),
    [
        ({"sub": "alice", "sid": "s-now"}, True),
        ({"sub": "alice", "sid": "s-earlier"}, False),  # an ended session of the same person
        ({"sub": "alice"}, False),  # no sid: cannot say which session it came from
        ({"sub": "alice", "sid": 7}, False),
        ({"sub": "bob", "sid": "s-now"}, False),
    ],
)
def test_an_id_token_vouches_for_logout_only_from_this_login_session(hint, vouches):
    """RP-Initiated Logout §2, §6: the hint must come from the session being ended."""
    assert policy.id_token_hint_vouches_for_logout(hint, "alice", "s-now") is vouches


# --- refresh tokens --------------------------------------------------------------------------


def judge(**overrides: object) -> RefreshVerdict:
    arguments = {
        "now": NOW,
        "rotated_at": None,
        "expires_at": NOW + timedelta(days=1),
        "family_revoked_at": None,
        "family_started": NOW - timedelta(days=10),
        "life": LIFE,
    }
    arguments.update(overrides)
    return policy.judge_refresh_token(**arguments)


def test_an_unused_live_refresh_token_rotates():
    assert judge() is RefreshVerdict.ROTATE


def test_a_rotated_token_presented_again_is_reuse():
    """RFC 9700 §4.14.2: a rotated refresh token coming back means one holder is an attacker."""
    assert judge(rotated_at=NOW - timedelta(seconds=5)) is RefreshVerdict.REUSED


def test_expired_revoked_or_past_the_family_end_is_dead():
    assert judge(expires_at=NOW) is RefreshVerdict.DEAD
    assert judge(family_revoked_at=NOW - timedelta(days=1)) is RefreshVerdict.DEAD
    assert judge(family_started=NOW - timedelta(days=90)) is RefreshVerdict.DEAD


def test_a_revoked_family_is_dead_even_for_a_rotated_token():
    """Reuse of a token whose grant already ended changes nothing more."""
    assert judge(rotated_at=NOW, family_revoked_at=NOW) is RefreshVerdict.DEAD


def test_a_new_refresh_token_never_outlives_its_family():
    started = NOW - timedelta(days=80)
    assert policy.refresh_token_expiry(NOW, started, LIFE) == started + timedelta(days=90)
    fresh = NOW - timedelta(days=1)
    assert policy.refresh_token_expiry(NOW, fresh, LIFE) == NOW + timedelta(days=30)


def test_lifetimes_come_from_the_settings():
    config = {
        "ACCESS_TOKEN_TTL": 300,
        "ID_TOKEN_TTL": 400,
        "CODE_TTL": 30,
        "REFRESH_TOKEN_TTL": 1000,
        "REFRESH_TOKEN_MAX_LIFETIME": 5000,
        "REFRESH_RETRY_WINDOW": 7,
    }
    assert policy.lifetimes(config) == Lifetimes(300, 400, 30, 1000, 5000, 7)


def test_a_rotated_token_back_within_the_retry_window_is_a_retry_if_its_successor_is_unused():
    """SPEC: the same refresh token again within the window gets the same successor back."""
    rotated = NOW - timedelta(seconds=5)
    assert judge(rotated_at=rotated, successor_unused=True) is RefreshVerdict.RETRY
    assert judge(rotated_at=rotated, successor_unused=False) is RefreshVerdict.REUSED
    late = NOW - timedelta(seconds=11)
    assert judge(rotated_at=late, successor_unused=True) is RefreshVerdict.REUSED


def test_withdrawing_a_scope_keeps_the_rest_unless_the_grant_must_end():
    assert policy.scope_after_withdrawal("openid offline_access events:read", "events:read") == (
        "openid offline_access"
    )
    assert (
        policy.scope_after_withdrawal("openid offline_access events:read", "offline_access") is None
    )
    assert policy.scope_after_withdrawal("events:read", "events:read") is None


@pytest.mark.parametrize(
    ("registered", "method", "endpoint", "allowed"),
    [
        ("client_secret_basic", "client_secret_basic", "authorization_code", True),
        ("client_secret_basic", "client_secret_post", "introspection", True),
        ("client_secret_basic", "none", "token", False),  # a confidential client proves itself
        ("client_secret_basic", "private_key_jwt", "token", False),  # it has no keys
        ("none", "none", "refresh_token", True),
        ("none", "none", "revocation", True),  # RFC 7009 §2.1: its own tokens
        ("none", "none", "introspection", False),
        ("none", "none", "client_credentials", False),
        ("none", "client_secret_basic", "token", False),  # a public client has no secret
        ("private_key_jwt", "private_key_jwt", "introspection", True),
        ("private_key_jwt", "client_secret_basic", "token", False),
        ("private_key_jwt", "none", "token", False),
        ("client_secret_jwt", "client_secret_jwt", "client_credentials", True),
        ("client_secret_jwt", "private_key_jwt", "token", False),
    ],
)
def test_one_table_says_how_each_client_authenticates_where(registered, method, endpoint, allowed):
    assert policy.client_may_use(registered, method, endpoint) is allowed


def test_the_metadata_advertises_the_table(client):
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "client_secret_jwt",
        "none",
    ]
    assert metadata["introspection_endpoint_auth_methods_supported"] == list(
        policy.AUTH_METHODS["introspection"]
    )
    assert metadata["revocation_endpoint_auth_methods_supported"] == list(
        policy.AUTH_METHODS["revocation"]
    )


# --- amr, acr, passkeys' relying party ---------------------------------------------------------


def test_a_password_and_a_code_are_two_factors() -> None:
    assert policy.amr_with(["pwd"], "otp") == ["pwd", "otp", "mfa"]
    assert policy.amr_with(["pwd"]) == ["pwd"]
    assert policy.amr_with(["pwd", "otp", "mfa"], "otp") == ["pwd", "otp", "mfa"]


def test_a_passkey_is_two_factors_only_when_the_device_verified_the_person() -> None:
    assert policy.passkey_methods(backup_eligible=False, user_verified=True) == [
        "hwk",
        "user",
        "mfa",
    ]
    assert policy.passkey_methods(backup_eligible=True, user_verified=False) == ["swk"]


def test_acr_follows_mfa() -> None:
    assert policy.acr_for(["pwd", "otp", "mfa"]) == policy.ACR_MFA
    assert policy.acr_for(["pwd"]) == policy.ACR_ONE_FACTOR
    assert policy.acr_for(["swk"]) == policy.ACR_ONE_FACTOR


def test_acr_values_asking_for_mfa_step_up_a_session_without_it() -> None:
    assert policy.needs_second_factor(policy.ACR_MFA, ["pwd"])
    assert policy.needs_second_factor(f"{policy.ACR_ONE_FACTOR} {policy.ACR_MFA}", ["pwd"])
    assert not policy.needs_second_factor(policy.ACR_MFA, ["pwd", "otp", "mfa"])
    assert not policy.needs_second_factor(None, ["pwd"])
    assert not policy.needs_second_factor("urn:other", ["pwd"])


def test_a_loopback_ip_issuer_lets_passkeys_use_localhost() -> None:
    rp = policy.relying_party("http://127.0.0.1:5000", "http://localhost:5000/")
    assert rp == policy.RelyingParty("localhost", "http://localhost:5000")
    # Served on the IP itself: the issuer's (a browser refuses it, but nothing else is right).
    assert policy.relying_party("http://127.0.0.1:5000", "http://127.0.0.1:5000/").id == "127.0.0.1"


def test_a_real_issuer_is_the_relying_party_whatever_host_the_request_names() -> None:
    rp = policy.relying_party("https://id.example.com", "http://localhost:5000/")
    assert rp == policy.RelyingParty("id.example.com", "https://id.example.com")
    evil = policy.relying_party("https://id.example.com", "https://evil.example/")
    assert evil.id == "id.example.com"


def test_the_second_step_waits_five_minutes() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    assert not policy.second_step_expired(started, started + timedelta(minutes=4, seconds=59))
    assert policy.second_step_expired(started, started + timedelta(minutes=5))
    assert policy.second_step_expired(started, started - timedelta(seconds=1))


# --- JWT client assertions (RFC 7523 §3) -----------------------------------------------------

_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_AUDIENCES = ("https://as.example", "https://as.example/oauth/token")


def _claims(**changes):
    at = int(_NOW.timestamp())
    claims = {"iss": "c1", "sub": "c1", "aud": "https://as.example", "exp": at + 60, "jti": "j"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"aud": ["https://other.example", "https://as.example/oauth/token"]}, None),
        ({"iss": "c2"}, "iss and sub"),
        ({"sub": "c2"}, "iss and sub"),
        ({"aud": "https://as.example/oauth/tokens"}, "aud"),
        ({"aud": None}, "aud"),
        ({"exp": None}, "exp"),
        ({"exp": "soon"}, "exp"),
        ({"exp": True}, "exp"),
        ({"exp": int(_NOW.timestamp()) - 61}, "expired"),
        ({"exp": int(_NOW.timestamp()) - 59}, None),  # within the leeway
        ({"exp": int(_NOW.timestamp()) + 3600 + 61}, "ahead"),
        ({"nbf": int(_NOW.timestamp()) + 120}, "nbf"),
        ({"iat": int(_NOW.timestamp()) + 120}, "iat"),
        ({"jti": None}, "jti"),
        ({"jti": ""}, "jti"),
        ({"jti": "x" * 257}, "jti"),
    ],
)
def test_what_a_client_assertion_must_say(changes, reason):
    problem = policy.assertion_problem(_claims(**changes), "c1", _AUDIENCES, _NOW)
    if reason is None:
        assert problem is None
    else:
        assert problem is not None and reason in problem


def test_each_assertion_method_has_its_own_algorithms():
    assert "HS256" not in policy.ASSERTION_ALGORITHMS["private_key_jwt"]
    assert policy.ASSERTION_ALGORITHMS["client_secret_jwt"] == ("HS256",)


@pytest.mark.parametrize(
    ("client_requires", "server_requires", "expected"),
    [(False, False, False), (True, False, True), (False, True, True)],
)
def test_who_must_push_authorization_requests(client_requires, server_requires, expected):
    assert policy.must_push(client_requires, server_requires) is expected
