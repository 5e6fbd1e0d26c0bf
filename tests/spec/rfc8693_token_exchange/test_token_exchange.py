"""Token exchange, RFC 8693 (SPEC, "Policy": token exchange)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver import policy
from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.services import resources
from authserver.services.clients import find_client
from tests import factories
from tests.helpers import (
    assert_oauth_error,
    basic_auth,
    decode_jwt,
    introspect,
    user_tokens,
)

DEFAULT = "http://127.0.0.1:5001"
ACCESS = policy.ACCESS_TOKEN_TYPE


def _exchanger(app, **options) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_client(
            grant_types=[policy.TOKEN_EXCHANGE_GRANT],
            redirect_uris=[],
            scope="openid profile events:read events:write",
            name="Calendar MCP server",
            **options,
        )


@pytest.fixture
def exchanger(app) -> factories.ClientInfo:
    return _exchanger(app)


def _person_token(logged_in, app_client, exchanger, **params) -> dict:
    params.setdefault("resource", policy.client_resource(exchanger.client_id))
    return user_tokens(logged_in, app_client, **params)


def _exchange(http, exchanger, subject_token, **data):
    body = {
        "grant_type": policy.TOKEN_EXCHANGE_GRANT,
        "subject_token": subject_token,
        "subject_token_type": ACCESS,
        **data,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return http.post(
        "/oauth/token", data=body, headers=basic_auth(exchanger.client_id, exchanger.secret)
    )


def test_exchange_for_another_resource_with_narrower_scope(
    app, logged_in, confidential_client, exchanger, user
):
    subject = _person_token(logged_in, confidential_client, exchanger)["access_token"]
    response = _exchange(logged_in, exchanger, subject, resource=DEFAULT, scope="events:read")
    assert response.status_code == 200, response.data
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert body["scope"] == "events:read" and "refresh_token" not in body
    _, claims = decode_jwt(logged_in, body["access_token"])
    assert claims["aud"] == DEFAULT
    assert claims["sub"] == user.subject
    assert claims["client_id"] == exchanger.client_id
    assert claims["act"] == {"sub": exchanger.client_id}
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "token.exchanged"))
        assert event is not None and event.client_id == exchanger.client_id
        assert subject not in str(event.detail) and body["access_token"] not in str(event.detail)


def test_omitted_scope_and_target_keep_the_scope_and_use_the_default_audience(
    logged_in, confidential_client, exchanger
):
    subject = _person_token(logged_in, confidential_client, exchanger, scope="openid events:read")
    body = _exchange(logged_in, exchanger, subject["access_token"]).get_json()
    assert body["scope"] == "openid events:read"
    assert decode_jwt(logged_in, body["access_token"])[1]["aud"] == DEFAULT


def test_audience_names_the_target_too(logged_in, confidential_client, exchanger):
    subject = _person_token(logged_in, confidential_client, exchanger)["access_token"]
    body = _exchange(logged_in, exchanger, subject, audience=DEFAULT).get_json()
    assert decode_jwt(logged_in, body["access_token"])[1]["aud"] == DEFAULT


def test_a_wider_scope_is_invalid_scope(logged_in, confidential_client, exchanger):
    subject = _person_token(logged_in, confidential_client, exchanger, scope="openid events:read")
    response = _exchange(logged_in, exchanger, subject["access_token"], scope="events:write")
    assert_oauth_error(response, "invalid_scope")


def test_an_unknown_target_is_invalid_target(logged_in, confidential_client, exchanger):
    subject = _person_token(logged_in, confidential_client, exchanger)["access_token"]
    for target in ({"resource": "https://unknown.example/"}, {"audience": "someone-else"}):
        assert_oauth_error(_exchange(logged_in, exchanger, subject, **target), "invalid_target")


@pytest.mark.parametrize(
    "subject_token", [None, "", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."]
)
def test_a_missing_or_unreadable_subject_token_is_invalid_request(client, exchanger, subject_token):
    assert_oauth_error(_exchange(client, exchanger, subject_token), "invalid_request")


def test_a_revoked_subject_token_is_invalid_request(logged_in, confidential_client, exchanger):
    subject = _person_token(logged_in, confidential_client, exchanger)["access_token"]
    revoked = logged_in.post(
        "/oauth/revoke",
        data={"token": subject},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert revoked.status_code == 200
    assert_oauth_error(_exchange(logged_in, exchanger, subject), "invalid_request")


def test_an_expired_subject_token_is_invalid_request(
    logged_in, confidential_client, exchanger, fake_clock
):
    subject = _person_token(logged_in, confidential_client, exchanger)["access_token"]
    fake_clock.advance(601)
    assert_oauth_error(_exchange(logged_in, exchanger, subject), "invalid_request")


def test_a_refresh_token_is_invalid_request(logged_in, confidential_client, exchanger):
    tokens = _person_token(logged_in, confidential_client, exchanger)
    refresh_token = tokens["refresh_token"]
    assert_oauth_error(_exchange(logged_in, exchanger, refresh_token), "invalid_request")
    typed = _exchange(
        logged_in, exchanger, refresh_token, subject_token_type=policy.REFRESH_TOKEN_TYPE
    )
    assert_oauth_error(typed, "invalid_request")


def test_a_token_for_someone_else_is_invalid_request(
    app, logged_in, confidential_client, exchanger
):
    # For the default audience, not for this client: the client did not receive it.
    plain = user_tokens(logged_in, confidential_client)["access_token"]
    assert_oauth_error(_exchange(logged_in, exchanger, plain), "invalid_request")
    # For another exchanging client: not this one's either.
    other = _exchanger(app)
    foreign = _person_token(logged_in, confidential_client, other)["access_token"]
    assert_oauth_error(_exchange(logged_in, exchanger, foreign), "invalid_request")


def test_a_token_for_a_resource_registered_to_the_client_may_be_exchanged(
    app, logged_in, confidential_client, exchanger
):
    calendar = "https://calendar.example.org/mcp"
    with app.app_context():
        resources.register(find_client(exchanger.client_id), [calendar])
        db.session.commit()
    subject = _person_token(logged_in, confidential_client, exchanger, resource=calendar)
    response = _exchange(logged_in, exchanger, subject["access_token"])
    assert response.status_code == 200, response.data


def test_delegation_chains_nest_the_actors(app, logged_in, confidential_client, exchanger):
    second = _exchanger(app)
    subject = _person_token(logged_in, confidential_client, exchanger)["access_token"]
    hop = _exchange(
        logged_in, exchanger, subject, resource=policy.client_resource(second.client_id)
    ).get_json()["access_token"]
    final = _exchange(logged_in, second, hop).get_json()["access_token"]
    claims = decode_jwt(logged_in, final)[1]
    assert claims["act"] == {"sub": second.client_id, "act": {"sub": exchanger.client_id}}


def test_revoking_the_persons_grant_revokes_the_exchanged_token(
    logged_in, confidential_client, exchanger, resource_server
):
    tokens = _person_token(logged_in, confidential_client, exchanger)
    exchanged = _exchange(logged_in, exchanger, tokens["access_token"]).get_json()["access_token"]
    assert introspect(logged_in, resource_server, exchanged).get_json()["active"] is True
    logged_in.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"]},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert introspect(logged_in, resource_server, exchanged).get_json()["active"] is False


def test_only_confidential_clients_registered_with_the_grant(
    app, client, logged_in, confidential_client, exchanger
):
    subject = _person_token(logged_in, confidential_client, exchanger)["access_token"]
    unauthorized = _exchange(client, confidential_client, subject)
    assert_oauth_error(unauthorized, "unauthorized_client")
    with app.app_context():
        with pytest.raises(ValueError, match="public client"):
            factories.make_client(
                public=True, grant_types=[policy.TOKEN_EXCHANGE_GRANT], redirect_uris=[]
            )


def test_an_actor_token_is_refused_by_name(logged_in, confidential_client, exchanger):
    subject = _person_token(logged_in, confidential_client, exchanger)["access_token"]
    response = _exchange(
        logged_in, exchanger, subject, actor_token=subject, actor_token_type=ACCESS
    )
    body = assert_oauth_error(response, "invalid_request")
    assert "actor_token" in body["error_description"]


def test_a_token_exchange_client_is_a_known_resource_only_while_it_may_exchange(app, client):
    exchanger = _exchanger(app)
    with app.app_context():
        plain = factories.make_service_client()
        assert resources.is_known(policy.client_resource(exchanger.client_id))
        assert not resources.is_known(policy.client_resource(plain.client_id))
        assert not resources.is_known(policy.client_resource("no-such-client"))


def test_metadata_advertises_token_exchange(client):
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert policy.TOKEN_EXCHANGE_GRANT in metadata["grant_types_supported"]
