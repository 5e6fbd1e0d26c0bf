"""RFC 9126 pushed authorization requests: POST /oauth/par with client authentication, a
request_uri that works once, for 60 s, for the client that pushed it, and clients (or the whole
server) that must use it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from authserver.extensions import db
from authserver.services import clients
from tests import factories
from tests.conftest import FakeClock
from tests.factories import ClientInfo
from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    basic_auth,
    consent,
    exchange_code,
    login,
    pkce_pair,
    query_of,
)

ISSUER = "http://127.0.0.1:5000"
PREFIX = "urn:ietf:params:oauth:request_uri:"


def push(http: FlaskClient, app_client: ClientInfo, **params: str | None):
    data = {
        "response_type": "code",
        "redirect_uri": app_client.redirect_uri,
        "scope": "openid profile events:read",
        "state": "pushed-state",
    }
    data.update(params)
    data = {k: v for k, v in data.items() if v is not None}
    headers = {}
    if app_client.secret:
        headers = basic_auth(app_client.client_id, app_client.secret)
    else:
        data["client_id"] = app_client.client_id
    return http.post("/oauth/par", data=data, headers=headers)


def pushed_uri(http: FlaskClient, app_client: ClientInfo, **params: str | None) -> str:
    response = push(http, app_client, **params)
    assert response.status_code == 201, response.data
    return response.get_json()["request_uri"]


def authorize_with(app_client: ClientInfo, request_uri: str, **extra: str) -> str:
    query = {"client_id": app_client.client_id, "request_uri": request_uri, **extra}
    return "/oauth/authorize?" + urlencode(query)


def test_push_answers_a_request_uri_for_60_seconds(client, confidential_client) -> None:
    response = push(client, confidential_client)
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert body["request_uri"].startswith(PREFIX)
    assert len(body["request_uri"]) > len(PREFIX) + 40  # 256 random bits
    assert body["expires_in"] == 60
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_the_pushed_request_runs_the_whole_code_flow(
    client, logged_in, confidential_client
) -> None:
    request_uri = pushed_uri(client, confidential_client)
    url = authorize_with(confidential_client, request_uri)
    answer = consent(logged_in, url)
    assert answer.status_code == 302, answer.data
    query = query_of(answer.headers["Location"])
    assert query["state"] == "pushed-state"
    assert query["iss"] == ISSUER
    token = exchange_code(client, confidential_client, query["code"])
    assert token.status_code == 200, token.data
    assert token.get_json()["scope"] == "openid profile events:read"


def test_parameters_in_the_query_beside_request_uri_are_ignored(
    client, logged_in, confidential_client
) -> None:
    request_uri = pushed_uri(client, confidential_client, scope="openid")
    url = authorize_with(confidential_client, request_uri, scope="openid events:write", state="x")
    answer = consent(logged_in, url)
    query = query_of(answer.headers["Location"])
    assert query["state"] == "pushed-state"
    token = exchange_code(client, confidential_client, query["code"]).get_json()
    assert token["scope"] == "openid"


def test_the_flow_survives_logging_in(client, app, user, confidential_client) -> None:
    """The browser that opened the request keeps it through the login's session reset."""
    request_uri = pushed_uri(client, confidential_client)
    url = authorize_with(confidential_client, request_uri)
    browser = app.test_client()
    to_login = browser.get(url)
    assert to_login.status_code == 302 and "/login" in to_login.headers["Location"]
    login(browser, user.email, user.password)
    answer = consent(browser, url)
    assert answer.status_code == 302
    assert "code" in query_of(answer.headers["Location"])


def test_a_request_uri_works_once(client, app, logged_in, user, confidential_client) -> None:
    request_uri = pushed_uri(client, confidential_client)
    url = authorize_with(confidential_client, request_uri)
    assert logged_in.get(url).status_code == 200  # opened (claimed) by this browser
    other_browser = app.test_client()
    login(other_browser, user.email, user.password)
    second = other_browser.get(url)
    assert second.status_code == 400
    assert b"expired or was already used" in second.data
    assert "Location" not in second.headers


def test_a_request_uri_is_done_once_its_code_is_issued(
    client, logged_in, confidential_client
) -> None:
    request_uri = pushed_uri(client, confidential_client)
    url = authorize_with(confidential_client, request_uri)
    assert consent(logged_in, url).status_code == 302
    again = logged_in.get(url)
    assert again.status_code == 400


def test_another_clients_request_uri_is_refused(client, logged_in, user, confidential_client, app):
    with app.app_context():
        other = factories.make_client(owner_email=user.email)
    request_uri = pushed_uri(client, confidential_client)
    response = logged_in.get(authorize_with(other, request_uri))
    assert response.status_code == 400
    # ... and it was not spent by the attempt: its own client still opens it.
    assert logged_in.get(authorize_with(confidential_client, request_uri)).status_code == 200


def test_an_expired_request_uri_is_refused(
    client, logged_in, confidential_client, fake_clock: FakeClock
) -> None:
    request_uri = pushed_uri(client, confidential_client)
    fake_clock.advance(61)
    assert logged_in.get(authorize_with(confidential_client, request_uri)).status_code == 400


@pytest.mark.parametrize("request_uri", [PREFIX + "made-up", PREFIX, PREFIX + "x" * 300])
def test_a_made_up_request_uri_is_refused(logged_in, confidential_client, request_uri) -> None:
    response = logged_in.get(authorize_with(confidential_client, request_uri))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_a_request_object_by_reference_is_still_not_supported(logged_in, confidential_client):
    """A request_uri that is not a pushed request's is a request object URL (RFC 9101), which
    this server does not fetch: the client is told, as before PAR existed."""
    response = logged_in.get(
        authorize_with(
            confidential_client,
            "https://app.example.com/request.jwt",
            redirect_uri=confidential_client.redirect_uri,
            response_type="code",
            scope="openid",
        )
    )
    assert_redirect_error(response, confidential_client.redirect_uri, "request_uri_not_supported")


def test_pushing_needs_client_authentication(client, confidential_client) -> None:
    response = client.post(
        "/oauth/par",
        data={
            "client_id": confidential_client.client_id,
            "response_type": "code",
            "redirect_uri": confidential_client.redirect_uri,
        },
    )
    assert_oauth_error(response, "invalid_client", 401)
    wrong = client.post(
        "/oauth/par",
        data={"response_type": "code"},
        headers=basic_auth(confidential_client.client_id, "wrong"),
    )
    assert_oauth_error(wrong, "invalid_client", 401)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"request_uri": PREFIX + "nested"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid admin:everything"}, "invalid_scope"),
        ({"code_challenge": "x", "code_challenge_method": "plain"}, "invalid_request"),
        ({"client_id": "someone-else"}, "invalid_request"),
    ],
)
def test_bad_pushed_requests_get_the_rfc_errors(client, confidential_client, params, error):
    assert_oauth_error(push(client, confidential_client, **params), error)


def test_a_public_client_pushes_with_pkce(client, logged_in, public_client) -> None:
    assert_oauth_error(push(client, public_client), "invalid_request")
    verifier, challenge = pkce_pair()
    request_uri = pushed_uri(
        client, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    answer = consent(logged_in, authorize_with(public_client, request_uri))
    code = query_of(answer.headers["Location"])["code"]
    token = exchange_code(client, public_client, code, code_verifier=verifier)
    assert token.status_code == 200, token.data


def test_a_parameter_pushed_twice_is_invalid_request(client, confidential_client) -> None:
    response = client.post(
        "/oauth/par",
        data="response_type=code&scope=openid&scope=profile",
        content_type="application/x-www-form-urlencoded",
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "invalid_request")


def test_a_client_registered_to_require_par_must_use_it(app, client, logged_in, user) -> None:
    with app.app_context():
        row, secret = clients.create_client(
            name="Strict",
            redirect_uris=[factories.REDIRECT_URI],
            scope="openid profile",
            require_pushed_authorization_requests=True,
        )
        db.session.commit()
        strict = ClientInfo(row.id, row.client_id, secret, factories.REDIRECT_URI, row.scope)
    plain = logged_in.get(
        "/oauth/authorize?"
        + urlencode(
            {
                "client_id": strict.client_id,
                "response_type": "code",
                "redirect_uri": strict.redirect_uri,
                "scope": "openid",
                "state": "s",
            }
        )
    )
    assert_redirect_error(plain, strict.redirect_uri, "invalid_request")
    request_uri = pushed_uri(client, strict, scope="openid")
    assert consent(logged_in, authorize_with(strict, request_uri)).status_code == 302


@pytest.mark.parametrize("app_config", [{"REQUIRE_PUSHED_AUTHORIZATION_REQUESTS": True}])
def test_the_server_may_require_par_of_everyone(app_config, client, logged_in, confidential_client):
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["require_pushed_authorization_requests"] is True
    plain = logged_in.get(
        "/oauth/authorize?"
        + urlencode(
            {
                "client_id": confidential_client.client_id,
                "response_type": "code",
                "redirect_uri": confidential_client.redirect_uri,
                "scope": "openid",
                "state": "s",
            }
        )
    )
    assert_redirect_error(plain, confidential_client.redirect_uri, "invalid_request")


def test_metadata_advertises_par(client) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["pushed_authorization_request_endpoint"] == f"{ISSUER}/oauth/par"
    assert metadata["require_pushed_authorization_requests"] is False
    assert (
        "private_key_jwt"
        in metadata["pushed_authorization_request_endpoint_auth_methods_supported"]
    )


def test_a_private_key_jwt_client_pushes_with_an_assertion_addressed_to_par(
    app, client, logged_in, fake_clock: FakeClock
) -> None:
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", {"kid": "par"})
    with app.app_context():
        row, _ = clients.create_client(
            name="Bank",
            redirect_uris=[factories.REDIRECT_URI],
            scope="openid profile",
            auth_method="private_key_jwt",
            jwks={"keys": [key.as_dict(private=False)]},
        )
        db.session.commit()
        client_id = row.client_id
    now = fake_clock.timestamp()
    claims = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/oauth/par", "exp": now + 60}
    signed = jwt.encode({"alg": "ES256", "kid": "par"}, {**claims, "jti": "par-1"}, key)
    response = client.post(
        "/oauth/par",
        data={
            "response_type": "code",
            "redirect_uri": factories.REDIRECT_URI,
            "scope": "openid",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
    )
    assert response.status_code == 201, response.data
    url = "/oauth/authorize?" + urlencode(
        {"client_id": client_id, "request_uri": response.get_json()["request_uri"]}
    )
    assert consent(logged_in, url).status_code == 302
