"""The OpenID Foundation's Basic OP certification plan (``oidcc-basic-certification-test-plan``,
conformance-suite ``OIDCCBasicTestPlan``), one test per module, in the plan's order.

Variant: server metadata discovered, a static client, ``client_secret_basic``,
``response_type=code``, default response mode (``oidcc-server-client-secret-post`` switches to
``client_secret_post``). Each docstring quotes the module's summary and says the outcome the
plan accepts; where the plan allows "an error or a documented alternative", the test asserts the
alternative this server takes. The results are tabulated in docs/certification.md.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from joserfc.errors import BadSignatureError

from tests.helpers import basic_auth, pkce_pair

from .conformance import (
    assert_code_callback,
    assert_error_callback,
    assert_userinfo_valid,
    authorization_request,
    code_flow,
    discovery,
    front_channel,
    jose_header,
    token_request,
    userinfo,
    validated_id_token,
)

#: RFC 6749 §5.2: ``error_description`` is printable ASCII without ``"`` and ``\``.
ERROR_DESCRIPTION = re.compile(r"^[\x20-\x21\x23-\x5B\x5D-\x7E]*$")
#: RFC 6749 Appendix A.12 / A.17: the characters of an access or refresh token (VSCHAR).
TOKEN_CHARACTERS = re.compile(r"^[\x20-\x7E]+$")


def assert_invalid_grant(response) -> None:
    """``CheckTokenEndpointHttpStatus400``, ``CheckTokenEndpointReturnedJsonContentType``,
    ``CheckErrorFromTokenEndpointResponseErrorInvalidGrant`` and the ``error_description`` /
    ``error_uri`` syntax checks (RFC 6749 §5.2)."""
    assert response.status_code == 400, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == "invalid_grant"
    assert ERROR_DESCRIPTION.match(body.get("error_description", ""))
    assert "\n" not in body.get("error_description", "")
    assert "error_uri" not in body or body["error_uri"].startswith("https://")


# --- OP-Response-code ---------------------------------------------------------------------------


def test_oidcc_server(browser, user, suite_client, clock):
    """oidcc-server: "Tests primarily 'happy' flows" — authorization code, token response
    (Bearer, ``expires_in``, no caching), an ID token that passes every check of OIDC Core
    §3.1.3.7, ``state`` and ``iss`` on the callback. Expected: passed."""
    flow = code_flow(browser, user, suite_client, clock)
    assert flow.tokens["expires_in"] > 0
    assert TOKEN_CHARACTERS.match(flow.tokens["access_token"])
    assert flow.claims["sub"] == user.subject
    assert flow.claims["aud"] == suite_client.client_id or flow.claims["aud"] == [
        suite_client.client_id
    ]
    assert flow.seen.login_pages == 1 and flow.seen.consent_pages == 1
    # Checked by validated_id_token when present (OP-IDToken-at_hash); present here.
    assert "at_hash" in flow.claims and "auth_time" in flow.claims


# --- OP-Response-Missing ------------------------------------------------------------------------


def test_oidcc_response_type_missing(browser, user, suite_client, clock):
    """oidcc-response-type-missing: "This test sends an authorization request that is missing
    the response_type parameter. The authorization server must either redirect back with an
    'unsupported_response_type' or 'invalid_request' error, or must display an error saying the
    response type is missing". Expected: passed — this server redirects back with
    ``unsupported_response_type`` (after the login that makes the redirect safe, RFC 9700
    §4.11.2), no code, no consent page."""
    request = authorization_request(suite_client, response_type=None)
    seen = front_channel(browser, user, suite_client, request)
    assert_error_callback(seen, "unsupported_response_type")
    assert seen.consent_pages == 0


# --- OP-IDToken-Signature, OP-IDToken-kid -------------------------------------------------------


def test_oidcc_idtoken_signature(browser, user, suite_client, clock):
    """oidcc-idtoken-signature: "This test requests an ID token without specifying an algorithm
    (which should default to RS256)." The ID token is RS256, its ``kid`` names a key in the
    discovered JWKS and the signature verifies with it. Expected: passed."""
    flow = code_flow(browser, user, suite_client, clock)
    assert jose_header(flow.tokens["id_token"])["alg"] == "RS256"
    assert "RS256" in discovery(browser)["id_token_signing_alg_values_supported"]
    header, payload, signature = flow.tokens["id_token"].split(".")
    other_signature = signature[::-1]
    with pytest.raises(BadSignatureError):
        validated_id_token(
            browser,
            suite_client,
            {**flow.tokens, "id_token": f"{header}.{payload}.{other_signature}"},
            clock,
            flow.seen.request["nonce"],
        )


# --- OP-IDToken-none ----------------------------------------------------------------------------


def test_oidcc_idtoken_unsigned(browser, user, suite_client, clock):
    """oidcc-idtoken-unsigned: "This test requests an ID token signed with "none"." The module
    is skipped when ``id_token_signing_alg_values_supported`` lacks ``none`` ("which is
    acceptable for certification, servers are not required to support 'none'"). Expected:
    skipped, by design — this server signs every ID token (SPEC: RS256), so the test asserts
    the skip condition and that the ID token a client gets is never unsigned."""
    assert "none" not in discovery(browser)["id_token_signing_alg_values_supported"]
    flow = code_flow(browser, user, suite_client, clock)
    assert jose_header(flow.tokens["id_token"])["alg"] == "RS256"


# --- OP-UserInfo-Endpoint, OP-UserInfo-Header, OP-UserInfo-Body ---------------------------------


def test_oidcc_userinfo_get(browser, user, suite_client, clock):
    """oidcc-userinfo-get: "This test makes an authenticated GET request to the UserInfo
    endpoint and validates the response" (200, JSON, ``sub`` equal to the ID token's, standard
    claims well-typed). Expected: passed."""
    flow = code_flow(browser, user, suite_client, clock, scope="openid profile email")
    claims = assert_userinfo_valid(userinfo(browser, flow.tokens["access_token"]), flow.claims)
    assert claims["email"] == user.email


def test_oidcc_userinfo_post_header(browser, user, suite_client, clock):
    """oidcc-userinfo-post-header: "This test makes an authenticated POST request to the
    UserInfo endpoint with the access token in a header and validates the response".
    Expected: passed."""
    flow = code_flow(browser, user, suite_client, clock, scope="openid profile")
    response = userinfo(browser, flow.tokens["access_token"], how="post-header")
    assert assert_userinfo_valid(response, flow.claims)["name"] == user.name


def test_oidcc_userinfo_post_body(browser, user, suite_client, clock):
    """oidcc-userinfo-post-body: "This test makes an authenticated POST request to the UserInfo
    endpoint with the access token in the body and validates the response. Support for passing
    an access token in the request body is not required by the standards - it is acceptable for
    servers not to implement this form, and the test will complete with a 'warning' if the
    server returns a http error response." Expected: passed (no warning) — RFC 6750 §2.2 form
    bodies are accepted; a token sent both ways is refused."""
    flow = code_flow(browser, user, suite_client, clock, scope="openid profile")
    response = userinfo(browser, flow.tokens["access_token"], how="post-body")
    assert assert_userinfo_valid(response, flow.claims)["name"] == user.name
    both = browser.post(
        "/oauth/userinfo",
        data={"access_token": flow.tokens["access_token"]},
        headers={"Authorization": f"Bearer {flow.tokens['access_token']}"},
    )
    assert both.status_code == 400


# --- OP-nonce-NoReq-code ------------------------------------------------------------------------


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(
    browser, user, suite_client, clock
):
    """oidcc-ensure-request-without-nonce-succeeds-for-code-flow: "This test should end with the
    authorization server issuing an authorization code, even though a nonce was not supplied."
    The ID token then carries no ``nonce``. Expected: passed."""
    flow = code_flow(browser, user, suite_client, clock, nonce=None)
    assert "nonce" not in flow.claims


# --- OP-scope-* ---------------------------------------------------------------------------------


def test_oidcc_scope_profile(browser, user, suite_client, clock):
    """oidcc-scope-profile: "This test requests authorization with profile scope." The claims
    come from UserInfo (``VerifyScopesReturnedInUserInfoClaims``; a warning if none of the
    scope's claims is there). Expected: passed — ``name`` and ``updated_at`` (the profile claims
    this server holds; SPEC keeps no others)."""
    flow = code_flow(browser, user, suite_client, clock, scope="openid profile")
    claims = assert_userinfo_valid(userinfo(browser, flow.tokens["access_token"]), flow.claims)
    assert claims["name"] == user.name
    assert isinstance(claims["updated_at"], int)
    assert "email" not in claims


def test_oidcc_scope_email(browser, user, suite_client, clock):
    """oidcc-scope-email: "This test requests authorization with email scope and issues a
    warning if an email address isn't returned in the expected place. As per OpenID Connect Core
    section 5.4, 'The Claims requested by the profile, email, address, and phone scope values are
    returned from the UserInfo Endpoint', except for response_type=id_token". Expected: passed —
    ``email`` and ``email_verified`` in UserInfo."""
    flow = code_flow(browser, user, suite_client, clock, scope="openid email")
    claims = assert_userinfo_valid(userinfo(browser, flow.tokens["access_token"]), flow.claims)
    assert claims["email"] == user.email
    assert claims["email_verified"] is False  # the factory's person never followed the link
    assert "name" not in claims


def assert_scope_skipped(browser, user, suite_client, scope: str, missing: set[str]):
    """``OIDCCCheckScopesSupportedContainScopeTest``: a scope missing from ``scopes_supported``
    skips the module. Asking anyway is refused with ``invalid_scope`` (RFC 6749 §4.1.2.1)."""
    assert missing.isdisjoint(discovery(browser)["scopes_supported"])
    request = authorization_request(suite_client, scope=scope)
    assert_error_callback(front_channel(browser, user, suite_client, request), "invalid_scope")


def test_oidcc_scope_address(browser, user, suite_client, clock):
    """oidcc-scope-address: "This test requests authorization with address scope." Skipped
    when ``scopes_supported`` lacks ``address``. Expected: skipped, by design — this server
    holds no postal address (SPEC: the claims it keeps are name and email), so it does not
    advertise the scope and refuses it as unknown."""
    assert_scope_skipped(browser, user, suite_client, "openid address", {"address"})


def test_oidcc_scope_phone(browser, user, suite_client, clock):
    """oidcc-scope-phone: "This test requests authorization with phone scope." Skipped when
    ``scopes_supported`` lacks ``phone``. Expected: skipped, by design — no phone numbers are
    held, so the scope is not advertised and is refused as unknown."""
    assert_scope_skipped(browser, user, suite_client, "openid phone", {"phone"})


def test_oidcc_scope_all(browser, user, suite_client, clock):
    """oidcc-scope-all: "This test requests authorization with address, email, phone and profile
    scopes." Skipped unless all four are in ``scopes_supported``. Expected: skipped, by design
    (no ``address`` nor ``phone``); ``openid email profile`` alone passes as in the scope
    modules above."""
    assert_scope_skipped(
        browser,
        user,
        suite_client,
        "openid email phone address profile",
        {"address", "phone"},
    )
    flow = code_flow(browser, user, suite_client, clock, scope="openid email profile")
    claims = assert_userinfo_valid(userinfo(browser, flow.tokens["access_token"]), flow.claims)
    assert {"name", "email", "email_verified"} <= set(claims)


def test_oidcc_alternate_happy_flow(browser, user, suite_client, clock):
    """oidcc-alternate-happy-flow: "This test performs a happy flow but with the order of the
    entries in the 'scope' reversed and authorization endpoint query parameters in a different
    order, to verify the server does not depend on any particular ordering. As per RFC6749
    section 3.3, 'If the value contains multiple space-delimited strings, their order does not
    matter'." Expected: passed."""
    request = authorization_request(suite_client, scope="email profile openid")
    reordered = dict(reversed(list(request.items())))
    seen = front_channel(browser, user, suite_client, reordered)
    code = assert_code_callback(seen)
    tokens = token_request(browser, suite_client, code).get_json()
    claims = validated_id_token(browser, suite_client, tokens, clock, request["nonce"])
    assert set(tokens["scope"].split()) == {"openid", "profile", "email"}
    info = assert_userinfo_valid(userinfo(browser, tokens["access_token"]), claims)
    assert info["email"] == user.email


# --- OP-display-* -------------------------------------------------------------------------------


def test_oidcc_display_page(browser, user, suite_client, clock):
    """oidcc-display-page: "This test includes the display=page parameter in the request to the
    authorization endpoint. Use of this parameter in the request must not cause an error at the
    OP ... You should get a normal user agent login page view." Expected: passed (the ordinary
    login page, then a code)."""
    flow = code_flow(browser, user, suite_client, clock, display="page")
    assert flow.seen.login_pages == 1


def test_oidcc_display_popup(browser, user, suite_client, clock):
    """oidcc-display-popup: "This test includes the display=popup parameter ... Use of this
    parameter in the request must not cause an error at the OP ... You should get a popup user
    agent login window." Expected: passed — no error; the page is the same responsive login
    page (``display`` is a hint, OIDC Core §3.1.2.1), a screenshot would show it."""
    flow = code_flow(browser, user, suite_client, clock, display="popup")
    assert flow.seen.login_pages == 1


# --- OP-prompt-* --------------------------------------------------------------------------------


def test_oidcc_prompt_login(browser, user, suite_client, clock):
    """oidcc-prompt-login: "This test calls the authorization endpoint test twice. The second
    time it will include prompt=login, so that the authorization server is required to ask the
    user to login a second time. If auth_time is present in the id_tokens, the value from the
    second login must be later than the time in the original token." Expected: passed."""
    first = code_flow(browser, user, suite_client, clock)
    clock.advance(5)
    second = code_flow(browser, user, suite_client, clock, prompt="login")
    assert second.seen.login_pages == 1
    assert second.claims["sub"] == first.claims["sub"]
    assert second.claims["auth_time"] > first.claims["auth_time"]


def test_oidcc_prompt_none_not_logged_in(browser, user, suite_client, clock):
    """oidcc-prompt-none-not-logged-in: "This test calls the authorization endpoint with
    prompt=none, expecting that no recent enough authentication is present to enable a silent
    login and hence the OP will redirect back with an error as per section 3.1.2.6 of OpenID
    Connect." Permitted errors: ``interaction_required``, ``login_required``,
    ``account_selection_required``, ``consent_required``. Expected: passed
    (``login_required``, no page shown)."""
    request = authorization_request(suite_client, prompt="none")
    seen = front_channel(browser, user, suite_client, request)
    assert_error_callback(
        seen,
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
    )
    assert seen.login_pages == 0 and seen.consent_pages == 0


def test_oidcc_prompt_none_logged_in(browser, user, suite_client, clock):
    """oidcc-prompt-none-logged-in: "This test calls the authorization endpoint test twice. The
    second time it will include prompt=none, and the authorization server must not request that
    the user logs in. The test verifies that auth_time (if present) and sub are consistent
    between the id_tokens from the first and second authorizations." Expected: passed."""
    first = code_flow(browser, user, suite_client, clock)
    clock.advance(5)
    second = code_flow(browser, user, suite_client, clock, prompt="none")
    assert second.seen.login_pages == 0 and second.seen.consent_pages == 0
    assert second.claims["sub"] == first.claims["sub"]
    assert second.claims["auth_time"] == first.claims["auth_time"]


# --- OP-Req-max_age=* ---------------------------------------------------------------------------


def test_oidcc_max_age_1(browser, user, suite_client, clock):
    """oidcc-max-age-1: "This test calls the authorization endpoint test twice. The second time
    it waits 1 second and includes max_age=1, so that the authorization server is required to
    ask the user to login a second time and must return an auth_time claim in the second
    id_token." Expected: passed. The wait is the server's clock moved (authserver/clock.py),
    two seconds so that whole-second ``auth_time`` is unambiguously older than ``max_age``."""
    first = code_flow(browser, user, suite_client, clock)
    clock.advance(2)
    second = code_flow(browser, user, suite_client, clock, max_age="1")
    assert second.seen.login_pages == 1
    assert second.claims["auth_time"] > first.claims["auth_time"]
    assert second.claims["auth_time"] >= clock.timestamp() - 1


def test_oidcc_max_age_10000(browser, user, suite_client, clock):
    """oidcc-max-age-10000: "This test calls the authorization endpoint test twice. The first
    time it includes max_age=15000 (so that the OP is required to return auth_time in the
    id_token). The second time it includes max_age=10000, and the authorization server must not
    request that the user logs in. The test verifies that auth_time and sub are consistent
    between the id_tokens from the first and second authorizations." Expected: passed."""
    first = code_flow(browser, user, suite_client, clock, max_age="15000")
    assert "auth_time" in first.claims
    clock.advance(60)
    second = code_flow(browser, user, suite_client, clock, max_age="10000")
    assert second.seen.login_pages == 0
    assert second.claims["auth_time"] == first.claims["auth_time"]
    assert second.claims["sub"] == first.claims["sub"]


# --- OP-Req-* -----------------------------------------------------------------------------------


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(browser, user, suite_client, clock):
    """oidcc-ensure-request-with-unknown-parameter-succeeds: "The test includes the parameter
    extra=foobar (which is not defined by any specification) in the request to the
    authorization endpoint, and the authentication must complete successfully with the extra
    parameter ignored as per RFC6749-3.1". Expected: passed."""
    flow = code_flow(browser, user, suite_client, clock, extra="foobar")
    assert "extra" not in flow.seen.callback


def test_oidcc_id_token_hint(browser, user, suite_client, clock):
    """oidcc-id-token-hint: "This test calls the authorization endpoint test twice. The second
    time it will include prompt=none with the id_token_hint set to the id token from the first
    authorization, and the authorization server must return successfully immediately without
    interacting with the user. The test verifies that auth_time (if present) and sub are
    consistent". Expected: passed."""
    first = code_flow(browser, user, suite_client, clock)
    clock.advance(5)
    second = code_flow(
        browser,
        user,
        suite_client,
        clock,
        prompt="none",
        id_token_hint=first.tokens["id_token"],
    )
    assert second.seen.login_pages == 0 and second.seen.consent_pages == 0
    assert second.claims["sub"] == first.claims["sub"]
    assert second.claims["auth_time"] == first.claims["auth_time"]


def test_oidcc_login_hint(browser, user, suite_client, clock):
    """oidcc-login-hint: "This test calls the authorization endpoint with a login_hint
    (provided in configuration, or buffy@<your issuer hostname> if not), which must at a minimum
    not result in errors." Expected: passed (the login page, then a code)."""
    flow = code_flow(browser, user, suite_client, clock, login_hint="buffy@op.example.test")
    assert flow.seen.login_pages == 1


def test_oidcc_ui_locales(browser, user, suite_client, clock):
    """oidcc-ui-locales: "This test includes the ui_locales parameter in the request to the
    authorization endpoint, with the value set to that provided in the configuration (or 'se'
    if no value probably). Use of this parameter in the request must not cause an error at the
    OP." Expected: passed — no error; the pages stay in English (the only locale; the plan only
    asks for a screenshot)."""
    flow = code_flow(browser, user, suite_client, clock, ui_locales="se")
    assert flow.seen.login_pages == 1


def test_oidcc_claims_locales(browser, user, suite_client, clock):
    """oidcc-claims-locales: "This test calls the authorization endpoint with claims_locale=se,
    which (as per section 15.1 of the OpenID Connect core spec) must at a minimum not result in
    errors." Expected: passed (claims in their one language)."""
    flow = code_flow(
        browser, user, suite_client, clock, claims_locales="se", scope="openid profile"
    )
    assert_userinfo_valid(userinfo(browser, flow.tokens["access_token"]), flow.claims)


def test_oidcc_ensure_request_with_acr_values_succeeds(browser, user, suite_client, clock):
    """oidcc-ensure-request-with-acr-values-succeeds: "This test will send an acr_values
    containing the authorization server's advertised acr_values_supported ... The authorization
    must succeed, and the returned id_tokens 'SHOULD' (but is not required to) contain an acr
    claim with one of the requested values. The test will pass if one of the requested values is
    returned, otherwise it will end with a warning." Expected: passed — a password login earns
    the one-factor value, which is among those requested."""
    advertised = discovery(browser)["acr_values_supported"]
    assert advertised
    flow = code_flow(browser, user, suite_client, clock, acr_values=" ".join(advertised))
    assert flow.claims["acr"] in advertised


# --- OP-OAuth-2nd, OP-OAuth-2nd-30s, OP-OAuth-2nd-Revokes ---------------------------------------


def test_oidcc_codereuse(browser, user, suite_client, clock):
    """oidcc-codereuse: "This test tries using an authorization code for a second time,
    immediately after the first use. The server should return an invalid_grant error as the
    authorization code has already been used." Expected: passed."""
    request = authorization_request(suite_client)
    code = assert_code_callback(front_channel(browser, user, suite_client, request))
    assert token_request(browser, suite_client, code).status_code == 200
    assert_invalid_grant(token_request(browser, suite_client, code))


def test_oidcc_codereuse_30seconds(browser, user, suite_client, clock):
    """oidcc-codereuse-30seconds: "This test tries using an authorization code for a second
    time, 30 seconds after the first use. The server must return an invalid_grant error as the
    authorization code has already been used. The originally issued access token should be
    revoked (as per RFC6749-4.1.2) - a warning is issued if the access token still works."
    Expected: passed (no warning): the replay ends the grant, UserInfo then answers 401. The 30
    seconds pass on the server's clock (authserver/clock.py), not in a sleep."""
    request = authorization_request(suite_client)
    code = assert_code_callback(front_channel(browser, user, suite_client, request))
    first = token_request(browser, suite_client, code).get_json()
    assert userinfo(browser, first["access_token"]).status_code == 200
    clock.advance(30)
    assert_invalid_grant(token_request(browser, suite_client, code))
    assert userinfo(browser, first["access_token"]).status_code == 401
    refreshed = browser.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first.get("refresh_token", "x")},
        headers=basic_auth(suite_client.client_id, suite_client.secret),
    )
    assert refreshed.status_code == 400


# --- OP-redirect_uri-NotReg ---------------------------------------------------------------------


def test_oidcc_ensure_registered_redirect_uri(browser, user, suite_client, clock):
    """oidcc-ensure-registered-redirect-uri: "This test uses an unregistered redirect uri. The
    authorization server should display an error saying the redirect uri is invalid". Expected:
    passed — an error page (400), never a redirect to the unregistered address."""
    unregistered = "https://suite.example.test/test/a/authserver/callback/evil"
    request = authorization_request(suite_client, redirect_uri=unregistered)
    seen = front_channel(browser, user, suite_client, request)
    assert seen.callback is None and seen.final is not None
    assert seen.final.status_code == 400
    assert b"not registered" in seen.final.data
    assert not any(v.startswith(unregistered) for v in seen.visited)


def test_oidcc_ensure_post_request_succeeds(browser, user, suite_client, clock):
    """oidcc-ensure-post-request-succeeds: "The test makes the call to the authorization
    endpoint as a POST request. The authentication should complete successfully and the
    authorization server is expected to call the redirect_uri URL" (OIDC Core §3.1.2.1:
    "Authorization Servers MUST support the use of the HTTP GET and POST methods").
    Expected: passed."""
    flow = code_flow(browser, user, suite_client, clock, method="POST")
    assert flow.claims["sub"] == user.subject


# --- OP-ClientAuth-SecretPost-Dynamic -----------------------------------------------------------


def test_oidcc_server_client_secret_post(browser, user, suite_client, clock):
    """oidcc-server-client-secret-post: "Tests 'happy flow' using client_secret_post client
    authentication". Expected: passed (``client_secret_post`` is advertised and accepted)."""
    assert "client_secret_post" in discovery(browser)["token_endpoint_auth_methods_supported"]
    flow = code_flow(browser, user, suite_client, clock, auth="client_secret_post")
    assert flow.claims["sub"] == user.subject


# --- OP-request_uri-Unsigned, OP-request-Unsigned -----------------------------------------------


def unsigned_request_object(request: dict[str, str]) -> str:
    """``ConvertAuthorizationEndpointRequestToRequestObject`` +
    ``SerializeRequestObjectWithNullAlgorithm``: the parameters as an ``alg: none`` JWT."""
    header = {"alg": "none"}
    parts = [base64url_json(header), base64url_json(request), ""]
    return ".".join(parts)


def base64url_json(value: dict) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    browser, user, suite_client, clock
):
    """oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported: "This test
    calls the authorization endpoint as normal, but passes a request_uri that points at an
    unsigned jwt. The authorization server must successfully complete the authorization, or
    return a request_uri_not_supported error." Expected: skipped — the plan's accepted
    alternative: the server advertises ``request_uri_parameter_supported: false`` and answers
    ``request_uri_not_supported`` (OIDC Core §3.1.2.6), after the login that makes the redirect
    safe; no code. (``request_uri`` of PAR, RFC 9126, is another feature.)"""
    metadata = discovery(browser)
    assert metadata["request_uri_parameter_supported"] is False
    request = authorization_request(suite_client)
    outside = {k: request[k] for k in ("client_id", "redirect_uri", "response_type", "scope")}
    outside["request_uri"] = "https://suite.example.test/test/a/authserver/requesturi/abc#frag"
    seen = front_channel(browser, user, suite_client, outside)
    assert_error_callback(seen, "request_uri_not_supported")


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    browser, user, suite_client, clock
):
    """oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported: "This test
    sends a unsigned request object (by value) to the authorization endpoint. The server must
    either accept the request and process the authentication correctly, or return a
    request_not_supported error as per OIDCC-3.1.2.6. ... either the object must be processed
    or request_not_supported must be returned." Expected: skipped — the accepted alternative:
    ``request_parameter_supported: false`` in discovery and ``request_not_supported`` back to
    the client; the request object is never silently ignored."""
    assert discovery(browser)["request_parameter_supported"] is False
    request = authorization_request(suite_client)
    outside = {k: request[k] for k in ("client_id", "redirect_uri", "response_type", "scope")}
    outside["request"] = unsigned_request_object(request)
    seen = front_channel(browser, user, suite_client, outside)
    assert_error_callback(seen, "request_not_supported")


# --- OP-claims-essential ------------------------------------------------------------------------


def test_oidcc_claims_essential(browser, user, suite_client, clock):
    """oidcc-claims-essential: "This test makes an authorization request requesting the 'name'
    claim as essential (in the userinfo ...), and the OP must return a successful result. A
    warning is raised if the OP fails to return a value for the name claim." Expected: passed
    with a warning, by design — ``claims_parameter_supported`` is false (SPEC: claims follow
    scopes), so the parameter is ignored as RFC 6749 §3.1 says: success, UserInfo without
    ``name`` for scope ``openid``, and no ``name`` in the ID token
    (``EnsureIdTokenDoesNotContainName``)."""
    assert discovery(browser)["claims_parameter_supported"] is False
    claims_request = '{"userinfo":{"name":{"essential":true}}}'
    flow = code_flow(browser, user, suite_client, clock, claims=claims_request)
    info = assert_userinfo_valid(userinfo(browser, flow.tokens["access_token"]), flow.claims)
    assert "name" not in info  # the plan's warning
    assert "name" not in flow.claims


def test_oidcc_ensure_request_object_with_redirect_uri(browser, user, suite_client, clock):
    """oidcc-ensure-request-object-with-redirect-uri: "This test includes two redirect URIs, one
    in the request object (passed by value) and one as a normal request parameter. The server
    must either use the redirect_uri in the request object (as per OIDCC-6.1) and process the
    authentication correctly, or show an invalid redirect_uri error". Expected: passed with the
    second alternative — the parameter outside the object is unregistered, and this server,
    which does not take request objects, shows the error page; it never redirects to either
    address with ``request_not_supported``
    (``EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri``)."""
    request = authorization_request(suite_client)
    outside = {k: request[k] for k in ("client_id", "response_type", "scope")}
    outside["redirect_uri"] = "https://suite.example.test/test/a/authserver/invalid"
    outside["request"] = unsigned_request_object(request)
    seen = front_channel(browser, user, suite_client, outside)
    assert seen.callback is None and seen.final is not None
    assert seen.final.status_code == 400
    assert b"not registered" in seen.final.data


# --- refresh tokens, PKCE -----------------------------------------------------------------------


def test_oidcc_refresh_token(browser, user, suite_client, second_client, clock):
    """oidcc-refresh-token: "This test obtains refresh tokens and performs various checks,
    including checking that the refresh token works and is correctly bound to the client. ...
    scope=offline_access will be included in the authorization endpoint request if the server's
    discovery document indicates support for this scope" (with ``prompt=consent``, OIDC Core
    §11). A refreshed ID token, if any, would have to keep ``iss``, ``sub``, ``aud``, ``azp``,
    ``auth_time`` (``CompareIdTokenClaims``); client 2's refresh token is refused to client 1.
    Expected: passed."""
    metadata = discovery(browser)
    assert "offline_access" in metadata["scopes_supported"]
    assert "refresh_token" in metadata["grant_types_supported"]
    first = code_flow(
        browser, user, suite_client, clock, scope="openid offline_access", prompt="consent"
    )
    refresh_token = first.tokens["refresh_token"]
    assert TOKEN_CHARACTERS.match(refresh_token) and len(refresh_token) >= 22
    clock.advance(1)  # WaitForOneSecond
    response = browser.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic_auth(suite_client.client_id, suite_client.secret),
    )
    assert response.status_code == 200, response.data
    assert "no-store" in response.headers["Cache-Control"]
    refreshed = response.get_json()
    assert refreshed["token_type"].lower() == "bearer"
    assert refreshed["access_token"] != first.tokens["access_token"]
    # OIDC Core §12.2: a refresh MAY return an ID token; this server returns none, so the
    # plan's CompareIdTokenClaims has nothing to compare (its ExtractIdToken step is INFO).
    assert "id_token" not in refreshed
    assert userinfo(browser, refreshed["access_token"]).status_code == 200

    other = code_flow(
        browser, user, second_client, clock, scope="openid offline_access", prompt="consent"
    )
    stolen = browser.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": other.tokens["refresh_token"]},
        headers=basic_auth(suite_client.client_id, suite_client.secret),
    )
    assert_invalid_grant(stolen)


def test_oidcc_ensure_request_with_valid_pkce_succeeds(browser, user, suite_client, clock):
    """oidcc-ensure-request-with-valid-pkce-succeeds: "This test makes an authorization request
    using valid PKCE (RFC7636), which must succeed. ... whether the server supports PKCE or not,
    a valid PKCE request must succeed." Expected: passed; the verifier is checked (a wrong one
    is refused, RFC 7636 §4.6)."""
    verifier, challenge = pkce_pair()
    flow = code_flow(
        browser,
        user,
        suite_client,
        clock,
        code_challenge=challenge,
        code_challenge_method="S256",
        token_extra={"code_verifier": verifier},
    )
    assert flow.claims["sub"] == user.subject
    request = authorization_request(
        suite_client, code_challenge=challenge, code_challenge_method="S256"
    )
    code = assert_code_callback(front_channel(browser, user, suite_client, request))
    wrong = token_request(browser, suite_client, code, code_verifier=pkce_pair()[0])
    assert_invalid_grant(wrong)
