"""Server metadata: RFC 8414 and OpenID Connect Discovery 1.0.

The documents must describe exactly what is implemented: every advertised value is honoured, and
what is not advertised is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc import rpinitiated
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

from tests import factories
from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    authorize_url,
    basic_auth,
    exchange_code,
    get_code,
    pkce_pair,
)

ISSUER = "http://127.0.0.1:5000"
WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


def metadata_of(http, path: str = WELL_KNOWN[0]) -> dict:
    response = http.get(path)
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    return response.get_json()


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.mark.parametrize("path", WELL_KNOWN)
def test_both_well_known_paths_serve_the_same_json_document(client, path):
    """A successful response MUST use the 200 OK HTTP status code and return a JSON object using
    the "application/json" content type — RFC 8414 §3.2 and OpenID Connect Discovery §4.2."""
    assert metadata_of(client, path) == metadata_of(client, WELL_KNOWN[0])


def test_rfc8414_document_passes_authlibs_validator(client):
    """RFC 8414 §2: every metadata value has the type and form the RFC gives it."""
    metadata = AuthorizationServerMetadata(metadata_of(client, WELL_KNOWN[1]))
    metadata.validate()


def test_openid_document_passes_authlibs_validators(client):
    """OpenID Connect Discovery §3 (and RP-Initiated Logout §2.1 for end_session_endpoint)."""
    metadata = OpenIDProviderMetadata(metadata_of(client, WELL_KNOWN[0]))
    metadata.validate(metadata_classes=[rpinitiated.OpenIDProviderMetadata])
    # The validator checks what is there; these are REQUIRED by Discovery §3.
    for key in (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert metadata[key], key


def test_the_validators_are_not_rubber_stamps(client):
    """A broken document fails the same validators (so the two tests above can fail)."""
    broken = dict(metadata_of(client), issuer="http://auth.example.com?x=1")
    with pytest.raises(ValueError):
        AuthorizationServerMetadata(broken).validate()
    broken = dict(metadata_of(client), id_token_signing_alg_values_supported=["HS256"])
    with pytest.raises(ValueError):
        OpenIDProviderMetadata(broken).validate()


def test_issuer_and_endpoints_use_the_configured_issuer_by_default(client):
    """The "issuer" value returned MUST be identical to the authorization server's issuer
    identifier — RFC 8414 §3.3."""
    metadata = metadata_of(client)
    assert metadata["issuer"] == ISSUER
    assert metadata["authorization_endpoint"] == f"{ISSUER}/oauth/authorize"
    assert metadata["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert metadata["userinfo_endpoint"] == f"{ISSUER}/oauth/userinfo"
    assert metadata["jwks_uri"] == f"{ISSUER}/oauth/jwks"
    assert metadata["revocation_endpoint"] == f"{ISSUER}/oauth/revoke"
    assert metadata["introspection_endpoint"] == f"{ISSUER}/oauth/introspect"
    assert metadata["end_session_endpoint"] == f"{ISSUER}/oauth/logout"


@pytest.mark.parametrize("app_config", [{"ISSUER": "https://id.example.com"}])
def test_issuer_follows_authserver_issuer_in_documents_and_tokens(
    app_config, logged_in, confidential_client
):
    """The issuer value MUST be identical to the iss Claim value in ID Tokens issued from this
    Issuer — OpenID Connect Discovery §3; RFC 8414 §3.3."""
    for path in WELL_KNOWN:
        metadata = metadata_of(logged_in, path)
        assert metadata["issuer"] == "https://id.example.com"
        for key, value in metadata.items():
            if key.endswith("_endpoint") or key == "jwks_uri":
                assert value.startswith("https://id.example.com/"), (key, value)
    code, query = get_code(logged_in, confidential_client)
    assert query["iss"] == "https://id.example.com"
    body = exchange_code(logged_in, confidential_client, code).get_json()
    keys = KeySet.import_key_set(logged_in.get("/oauth/jwks").get_json())
    for token in (body["id_token"], body["access_token"]):
        assert jwt.decode(token, keys, algorithms=["RS256"]).claims["iss"] == (
            "https://id.example.com"
        )


def test_advertised_values_are_exactly_what_is_implemented(client):
    """RFC 8414 §2 and Discovery §3: the lists this server supports, and nothing more."""
    metadata = metadata_of(client)
    assert metadata["scopes_supported"] == [
        "openid",
        "profile",
        "email",
        "offline_access",
        "events:read",
        "events:write",
    ]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    jwt_methods = ["private_key_jwt", "client_secret_jwt"]  # RFC 7523
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        *jwt_methods,
        "none",
    ]
    assert metadata["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        *jwt_methods,
        "none",
    ]
    assert metadata["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        *jwt_methods,
    ]
    assert metadata["token_endpoint_auth_signing_alg_values_supported"] == [
        "RS256",
        "ES256",
        "EdDSA",
        "Ed25519",
        "HS256",
    ]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["subject_types_supported"] == ["public"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert set(metadata["claims_supported"]) >= {
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "azp",
        "sid",
        "name",
        "updated_at",
        "email",
        "email_verified",
    }


def test_registration_endpoint_is_advertised_only_when_enabled(client):
    """registration_endpoint: OPTIONAL, the URL of the registration endpoint — RFC 8414 §2;
    a server that has none must not advertise one."""
    assert "registration_endpoint" not in metadata_of(client)


@pytest.mark.parametrize("app_config", [{"REGISTRATION_ENABLED": True}])
def test_registration_endpoint_is_advertised_when_enabled(app_config, client):
    metadata = metadata_of(client)
    assert metadata["registration_endpoint"] == f"{ISSUER}/oauth/register"
    response = client.post(
        path_of(metadata["registration_endpoint"]),
        json={"redirect_uris": ["https://new.example.com/cb"], "scope": "openid"},
    )
    assert response.status_code == 201, response.data


def test_every_advertised_endpoint_answers(client, confidential_client):
    """Each endpoint in the document is served, and answers a bare request the way its own
    specification says (not 404, not 405)."""
    metadata = metadata_of(client)
    authorize = client.get(path_of(metadata["authorization_endpoint"]))
    assert authorize.status_code == 400  # no client_id: an error page, never a redirect
    token = client.post(
        path_of(metadata["token_endpoint"]),
        data={"grant_type": "client_credentials"},
        headers=basic_auth(confidential_client.client_id, "wrong"),
    )
    assert_oauth_error(token, "invalid_client", status=401)
    userinfo = client.get(path_of(metadata["userinfo_endpoint"]))
    assert userinfo.status_code == 401
    assert userinfo.headers["WWW-Authenticate"].startswith("Bearer")
    jwks = client.get(path_of(metadata["jwks_uri"]))
    assert jwks.status_code == 200 and jwks.get_json()["keys"]
    for key in ("revocation_endpoint", "introspection_endpoint"):
        answer = client.post(path_of(metadata[key]), data={"token": "x"})
        assert_oauth_error(answer, "invalid_client", status=401)
    logout = client.get(path_of(metadata["end_session_endpoint"]))
    assert logout.status_code == 200
    documentation = client.get(path_of(metadata["service_documentation"]))
    assert documentation.status_code in (200, 302)


def test_jwks_keys_match_the_advertised_signing_algorithm(client):
    """Discovery §3: jwks_uri holds the keys that validate signatures; RS256 per SPEC, public
    parts only."""
    metadata = metadata_of(client)
    jwks = client.get(path_of(metadata["jwks_uri"])).get_json()
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert key["kty"] == "RSA"
        assert key["use"] == "sig"
        assert key["alg"] in metadata["id_token_signing_alg_values_supported"]
        assert key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
def test_every_advertised_token_endpoint_auth_method_works(
    app, logged_in, user, confidential_client, method
):
    """token_endpoint_auth_methods_supported — RFC 8414 §2: each one is accepted."""
    metadata = metadata_of(logged_in)
    assert method in metadata["token_endpoint_auth_methods_supported"]
    if method == "none":
        with app.app_context():
            app_client = factories.make_client(owner_email=user.email, public=True)
    else:
        app_client = confidential_client
    verifier, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, app_client, code_challenge=challenge, code_challenge_method="S256"
    )
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app_client.redirect_uri,
        "code_verifier": verifier,
    }
    headers = {}
    if method == "client_secret_basic":
        headers = basic_auth(app_client.client_id, app_client.secret)
    elif method == "client_secret_post":
        data.update(client_id=app_client.client_id, client_secret=app_client.secret)
    else:
        data["client_id"] = app_client.client_id
    response = logged_in.post(path_of(metadata["token_endpoint"]), data=data, headers=headers)
    assert response.status_code == 200, response.data


@pytest.mark.parametrize(
    "grant_type", ["authorization_code", "refresh_token", "client_credentials"]
)
def test_every_advertised_grant_type_is_recognised(client, confidential_client, grant_type):
    """grant_types_supported — RFC 8414 §2: the token endpoint knows each one (a bad request for
    it fails on its parameters, never with unsupported_grant_type)."""
    response = client.post(
        "/oauth/token",
        data={"grant_type": grant_type, "scope": "openid"},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    body = response.get_json()
    assert body.get("error") != "unsupported_grant_type", body


@pytest.mark.parametrize(
    "grant_type",
    [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ],
)
def test_grant_types_not_advertised_are_unsupported_grant_type(
    client, confidential_client, grant_type
):
    """unsupported_grant_type: The authorization grant type is not supported by the
    authorization server — RFC 6749 §5.2."""
    assert grant_type not in metadata_of(client)["grant_types_supported"]
    response = client.post(
        "/oauth/token",
        data={"grant_type": grant_type, "username": "a", "password": "b"},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "unsupported_grant_type")


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token"])
def test_response_types_not_advertised_are_refused(logged_in, confidential_client, response_type):
    """unsupported_response_type — RFC 6749 §4.1.2.1; only "code" is advertised."""
    assert response_type not in metadata_of(logged_in)["response_types_supported"]
    response = logged_in.get(
        authorize_url(confidential_client, response_type=response_type, nonce="n-1")
    )
    assert_redirect_error(response, confidential_client.redirect_uri, "unsupported_response_type")


def test_only_the_advertised_code_challenge_method_is_accepted(logged_in, confidential_client):
    """code_challenge_methods_supported ["S256"] — RFC 8414 §2, RFC 7636 §4.3: "plain" is
    refused."""
    assert metadata_of(logged_in)["code_challenge_methods_supported"] == ["S256"]
    response = logged_in.get(
        authorize_url(confidential_client, code_challenge="a" * 43, code_challenge_method="plain")
    )
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")


def test_every_advertised_scope_can_be_granted(logged_in, confidential_client):
    """scopes_supported — RFC 8414 §2: each one can be requested and granted."""
    scopes = metadata_of(logged_in)["scopes_supported"]
    code, _ = get_code(logged_in, confidential_client, scope=" ".join(scopes))
    token = exchange_code(logged_in, confidential_client, code).get_json()
    assert token["scope"].split() == scopes


def test_claims_supported_covers_every_claim_issued(logged_in, confidential_client):
    """claims_supported: the Claim Names of the Claims that the OpenID Provider MAY be able to
    supply values for — Discovery §3. Whatever the id_token and UserInfo carry is listed."""
    metadata = metadata_of(logged_in)
    code, _ = get_code(logged_in, confidential_client, scope="openid profile email", nonce="n-2")
    token = exchange_code(logged_in, confidential_client, code).get_json()
    keys = KeySet.import_key_set(logged_in.get("/oauth/jwks").get_json())
    id_claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    userinfo = logged_in.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    ).get_json()
    issued = set(id_claims) | set(userinfo)
    assert issued <= set(metadata["claims_supported"]), issued - set(metadata["claims_supported"])
    # ...and nothing is advertised that no scope can ever release.
    assert set(metadata["claims_supported"]) <= issued
