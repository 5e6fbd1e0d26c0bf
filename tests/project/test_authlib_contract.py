"""The Authlib names this server builds on, checked against the installed release.

setup.cfg pins Authlib to the minor series the code is tested with; this fails loudly, naming
the missing piece, if an upgrade renames a hook we implement or the one private method we
override, instead of letting requests quietly take another path.
"""

from __future__ import annotations

import inspect

import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import TokenEndpoint, grants
from authlib.oauth2.rfc6749.hooks import Hookable
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceCodeGrant
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint

#: (class, method) pairs the adapters implement or call; all are documented extension points
#: except the one marked private.
HOOKS = [
    (grants.AuthorizationCodeGrant, "generate_authorization_code"),
    (grants.AuthorizationCodeGrant, "save_authorization_code"),
    (grants.AuthorizationCodeGrant, "query_authorization_code"),
    (grants.AuthorizationCodeGrant, "delete_authorization_code"),
    (grants.AuthorizationCodeGrant, "authenticate_user"),
    (grants.RefreshTokenGrant, "authenticate_refresh_token"),
    (grants.RefreshTokenGrant, "authenticate_user"),
    (grants.RefreshTokenGrant, "revoke_old_credential"),
    (CodeChallenge, "validate_code_challenge"),
    (OpenIDCode, "exists_nonce"),
    (OpenIDCode, "resolve_client_private_key"),
    (OpenIDCode, "get_client_algorithm"),
    (OpenIDCode, "get_encode_header"),
    (OpenIDCode, "get_client_claims"),
    (OpenIDCode, "generate_user_info"),
    (AuthorizationServer, "register_token_generator"),
    (AuthorizationServer, "save_token"),
    (AuthorizationServer, "query_client"),
    (AuthorizationServer, "create_oauth2_request"),
    (AuthorizationServer, "validate_requested_scope"),
    (AuthorizationServer, "authenticate_client"),
    (AuthorizationServer, "handle_error_response"),
    (AuthorizationServer, "register_client_auth_method"),
    (JWTBearerClientAssertion, "get_audiences"),
    (JWTBearerClientAssertion, "resolve_client_public_key"),
    (JWTBearerClientAssertion, "process_assertion_claims"),
    (JWTBearerClientAssertion, "verify_claims"),
    (JWTBearerClientAssertion, "validate_jti"),
    (JWTBearerClientAssertion, "extract_assertion"),
    (TokenEndpoint, "authenticate_endpoint_client"),
]


def test_client_assertions_still_call_the_hooks_we_override():
    """JWTBearerClientAssertion.__call__ (overridden to pass on the other JWT method's clients,
    authserver/oauth2/client_assertion.py) still resolves the key and processes the claims
    through the hooks we implement."""
    source = inspect.getsource(JWTBearerClientAssertion.__call__)
    assert "resolve_client_public_key(" in source
    assert "process_assertion_claims(" in source


@pytest.mark.parametrize(("owner", "name"), HOOKS, ids=lambda v: getattr(v, "__name__", v))
def test_every_hook_we_implement_still_exists(owner, name):
    assert callable(getattr(owner, name, None)), f"Authlib no longer has {owner.__name__}.{name}"


def test_the_private_hint_check_we_override_is_still_the_one_authlib_calls():
    """EndSessionEndpoint._validate_id_token_hint: private, overridden because no public hook
    checks what an id_token_hint claims (see authserver/oauth2/endpoints.py)."""
    assert callable(getattr(EndSessionEndpoint, "_validate_id_token_hint", None))
    assert "_validate_id_token_hint(" in inspect.getsource(EndSessionEndpoint)


def test_refresh_rotation_still_reads_include_new_refresh_token():
    assert "INCLUDE_NEW_REFRESH_TOKEN" in inspect.getsource(grants.RefreshTokenGrant)


def test_the_code_grant_still_asks_for_a_refresh_token_by_grant_type():
    """Our token generator decides on ``include_refresh_token`` with the person's consent; it
    relies on Authlib passing the grant check in, not deciding alone."""
    source = inspect.getsource(grants.AuthorizationCodeGrant)
    assert "include_refresh_token" in source


@pytest.mark.parametrize(
    "grant",
    [
        grants.AuthorizationCodeGrant,
        grants.RefreshTokenGrant,
        grants.ClientCredentialsGrant,
        DeviceCodeGrant,
    ],
    ids=lambda g: g.__name__,
)
def test_each_token_grant_still_runs_the_hook_dpop_binds_on(grant):
    """RFC 9449 binding (authserver/oauth2/dpop.py) runs on ``before_create_token_response``:
    Authlib fires it only because ``create_token_response`` is ``@hooked``."""
    calls = []
    instance = grant.__new__(grant)
    Hookable.__init__(instance)
    instance.register_hook("before_create_token_response", lambda g, *a: calls.append(g))
    with pytest.raises(Exception):  # noqa: B017 - the body fails on a bare instance
        grant.create_token_response(instance)
    assert calls == [instance]
