"""The relying party the OpenID Foundation's conformance suite plays, over the in-process app.

Its steps follow the suite's ``AbstractOIDCCServerTest`` for the Basic OP plan's variant (server
metadata discovered, static client, ``client_secret_basic``, ``response_type=code``): discovery,
a fresh browser that logs in and consents when asked, the callback checked (``state``, RFC 9207
``iss``), the code exchanged, the ID token checked as ``ValidateIdToken``,
``ValidateIdTokenSignature``, ``ValidateIdTokenNonce`` and ``ValidateAtHash`` do, UserInfo.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.test import TestResponse

from tests.conftest import FakeClock
from tests.factories import ClientInfo, UserInfo
from tests.helpers import basic_auth, consent, csrf_token, query_of

#: The issuer these tests run the server as: certification is for an https issuer (the Config
#: OP plan's ``CheckDiscEndpointAllEndpointsAreHttps``).
ISSUER = "https://op.example.test"


@dataclass
class FrontChannel:
    """What the user agent saw between the authorization request and the client's callback."""

    request: dict[str, str]
    callback: dict[str, str] | None = None
    login_pages: int = 0
    consent_pages: int = 0
    final: TestResponse | None = None
    visited: list[str] = field(default_factory=list)


def discovery(http: FlaskClient) -> dict:
    response = http.get("/.well-known/openid-configuration")
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    return response.get_json()


def authorization_request(client: ClientInfo, **params: str | None) -> dict[str, str]:
    """The suite's request: a fresh ``state`` and ``nonce`` each time, scope ``openid``."""
    query: dict[str, str | None] = {
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "response_type": "code",
        "scope": "openid",
        "state": secrets.token_urlsafe(10),
        "nonce": secrets.token_urlsafe(10),
    }
    query.update(params)
    return {k: v for k, v in query.items() if v is not None}


def path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def log_in_at(browser: FlaskClient, location: str, user: UserInfo) -> TestResponse:
    page = browser.get(location)
    assert page.status_code == 200, page.data
    return browser.post(
        location,
        data={"email": user.email, "password": user.password, "csrf_token": csrf_token(page.data)},
    )


def front_channel(
    browser: FlaskClient,
    user: UserInfo,
    client: ClientInfo,
    request: dict[str, str],
    method: str = "GET",
) -> FrontChannel:
    """Play the person: log in when sent to the login page, allow on the consent page, until
    the server answers the client (the callback's query) or shows a page of its own."""
    seen = FrontChannel(request=request)
    if method == "POST":
        response = browser.post("/oauth/authorize", data=request)
    else:
        response = browser.get("/oauth/authorize?" + urlencode(request))
    location = "/oauth/authorize?" + urlencode(request)
    for _ in range(8):
        if response.status_code in (302, 303):
            target = response.headers["Location"]
            seen.visited.append(target)
            if client.redirect_uri and target.startswith(client.redirect_uri):
                seen.callback = query_of(target)
                seen.final = response
                return seen
            location = path_of(target)
            if location.startswith("/login"):
                seen.login_pages += 1
                response = log_in_at(browser, location, user)
            else:
                response = browser.get(location)
        elif response.status_code == 200 and b'name="decision"' in response.data:
            seen.consent_pages += 1
            response = consent(browser, location)
        else:
            seen.final = response
            return seen
    raise AssertionError(f"no answer after {seen.visited}")


def assert_code_callback(seen: FrontChannel) -> str:
    """``CheckIfAuthorizationEndpointError``, ``CheckMatchingStateParameter``,
    ``ValidateIssIfPresentInAuthorizationResponse``, then the code."""
    assert seen.callback is not None, seen.final and seen.final.data
    assert "error" not in seen.callback, seen.callback
    assert seen.callback["state"] == seen.request["state"]
    assert seen.callback["iss"] == ISSUER
    return seen.callback["code"]


def assert_error_callback(seen: FrontChannel, *errors: str) -> dict[str, str]:
    """An error sent back to the client (OIDC Core §3.1.2.6) with the request's ``state``."""
    assert seen.callback is not None, seen.final and seen.final.data
    assert seen.callback.get("error") in errors, seen.callback
    assert "code" not in seen.callback
    if "state" in seen.request:
        assert seen.callback["state"] == seen.request["state"]
    assert seen.callback["iss"] == ISSUER
    return seen.callback


def token_request(
    http: FlaskClient, client: ClientInfo, code: str, auth: str = "client_secret_basic", **extra
) -> TestResponse:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri}
    data.update(extra)
    assert client.secret is not None
    if auth == "client_secret_post":
        data.update(client_id=client.client_id, client_secret=client.secret)
        return http.post("/oauth/token", data=data)
    return http.post("/oauth/token", data=data, headers=basic_auth(client.client_id, client.secret))


def left_half_hash(value: str) -> str:
    """``at_hash`` for RS256 (OIDC Core §3.1.3.6): the left half of SHA-256, base64url."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def validated_id_token(
    http: FlaskClient,
    client: ClientInfo,
    tokens: dict,
    clock: FakeClock,
    nonce: str | None,
) -> dict:
    """What the suite's ID token checks assert (OIDC Core §3.1.3.7): RS256 by default
    (``OIDCCCheckIdTokenSigningAlg``), a ``kid`` naming a published key, the signature, ``iss``,
    ``aud``, ``azp``, ``exp`` in the future, ``iat`` not, ``sub``, the request's ``nonce``
    (none when none was sent), ``auth_time`` not in the future, ``at_hash`` if present."""
    assert tokens["token_type"].lower() == "bearer"
    token = tokens["id_token"]
    keys = http.get(discovery(http)["jwks_uri"].removeprefix(ISSUER)).get_json()
    decoded = jwt.decode(token, KeySet.import_key_set(keys), algorithms=["RS256"])
    header, claims = dict(decoded.header), dict(decoded.claims)
    assert header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in keys["keys"]}
    assert claims["iss"] == ISSUER
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert client.client_id in audience
    if len(audience) > 1:
        assert claims["azp"] == client.client_id
    now = clock.timestamp()
    assert claims["exp"] > now
    assert claims["iat"] <= now + 1
    assert isinstance(claims["sub"], str) and 0 < len(claims["sub"]) <= 255
    if nonce is None:
        assert "nonce" not in claims
    else:
        assert claims["nonce"] == nonce
    if "auth_time" in claims:
        assert claims["auth_time"] <= now + 1
    if "at_hash" in claims:
        assert claims["at_hash"] == left_half_hash(tokens["access_token"])
    return claims


def userinfo(http: FlaskClient, access_token: str, how: str = "get") -> TestResponse:
    """UserInfo as ``CallUserInfoEndpoint`` (GET, header), ``...WithBearerTokenInHeader`` with
    POST, or ``CallUserInfoEndpointWithBearerTokenInBody``."""
    bearer = {"Authorization": f"Bearer {access_token}"}
    if how == "post-header":
        return http.post("/oauth/userinfo", headers=bearer)
    if how == "post-body":
        return http.post("/oauth/userinfo", data={"access_token": access_token})
    return http.get("/oauth/userinfo", headers=bearer)


def assert_userinfo_valid(response: TestResponse, id_token_claims: dict) -> dict:
    """``EnsureHttpStatusCodeIs200``, ``ValidateUserInfoStandardClaims``,
    ``EnsureUserInfoContainsSub``, ``VerifyUserInfoAndIdTokenInTokenEndpointSameSub``,
    ``EnsureUserInfoUpdatedAtValid``."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    claims = response.get_json()
    assert claims["sub"] == id_token_claims["sub"]
    if "updated_at" in claims:
        assert isinstance(claims["updated_at"], int)
    if "email_verified" in claims:
        assert isinstance(claims["email_verified"], bool)
    for name in ("name", "email"):
        if name in claims:
            assert isinstance(claims[name], str) and claims[name]
    return claims


@dataclass
class Authorized:
    """One completed code flow: what the browser saw, the token response, the ID token's claims."""

    seen: FrontChannel
    tokens: dict
    claims: dict


def code_flow(
    browser: FlaskClient,
    user: UserInfo,
    client: ClientInfo,
    clock: FakeClock,
    method: str = "GET",
    auth: str = "client_secret_basic",
    token_extra: dict[str, str] | None = None,
    **params: str | None,
) -> Authorized:
    """The suite's happy flow (``OIDCCServerTest``): authorize, log in and consent as needed,
    exchange the code, check the token response and the ID token."""
    request = authorization_request(client, **params)
    seen = front_channel(browser, user, client, request, method=method)
    code = assert_code_callback(seen)
    response = token_request(browser, client, code, auth=auth, **(token_extra or {}))
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    assert "no-store" in response.headers.get("Cache-Control", "")
    tokens = response.get_json()
    claims = validated_id_token(browser, client, tokens, clock, request.get("nonce"))
    return Authorized(seen, tokens, claims)


def jose_header(token: str) -> dict:
    """A JWS's protected header, read without verifying anything."""
    encoded = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
