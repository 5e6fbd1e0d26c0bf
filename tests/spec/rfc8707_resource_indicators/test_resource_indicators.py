"""Resource indicators: RFC 8707 at the authorization and token endpoints (SPEC, "Tokens")."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuthorizationCode
from authserver.services import resources
from authserver.services.clients import find_client
from tests import factories
from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    authorize_url,
    basic_auth,
    consent,
    decode_jwt,
    exchange_code,
    get_code,
    introspect,
    refresh,
)

DEFAULT = "http://127.0.0.1:5001"
CALENDAR = "https://calendar.example.com/"
MAIL = "https://mail.example.com/api"


@pytest.fixture
def app_config() -> dict:
    return {"RESOURCES": f"{CALENDAR} {MAIL}"}


def _claims(http, body: dict) -> dict:
    return decode_jwt(http, body["access_token"])[1]


def _tokens(logged_in, app_client, *, token_resource=None, **authorize):
    code, _ = get_code(logged_in, app_client, **authorize)
    extra = {} if token_resource is None else {"resource": token_resource}
    return exchange_code(logged_in, app_client, code, **extra)


def test_without_resource_the_audience_is_the_default(logged_in, confidential_client):
    body = _tokens(logged_in, confidential_client).get_json()
    assert _claims(logged_in, body)["aud"] == DEFAULT


def test_requested_resource_becomes_the_audience(logged_in, confidential_client):
    response = _tokens(logged_in, confidential_client, resource=CALENDAR)
    assert response.status_code == 200, response.data
    assert _claims(logged_in, response.get_json())["aud"] == CALENDAR


def test_consent_page_names_a_resource_other_than_the_default(logged_in, confidential_client):
    page = logged_in.get(authorize_url(confidential_client, resource=CALENDAR))
    assert page.status_code == 200
    assert f'<strong class="resource">{CALENDAR}</strong>' in page.data.decode()
    plain = logged_in.get(authorize_url(confidential_client, resource=DEFAULT))
    assert 'class="resource"' not in plain.data.decode()


def test_the_resource_is_remembered_with_the_code(app, logged_in, confidential_client):
    get_code(logged_in, confidential_client, resource=MAIL)
    with app.app_context():
        code = db.session.scalars(select(AuthorizationCode)).one()
        assert code.resources == [MAIL]


@pytest.mark.parametrize(
    "resource",
    ["https://evil.example.com/", "https://calendar.example.com/#frag", "relative/path", ""],
)
def test_unknown_or_malformed_resource_at_authorize_is_invalid_target(
    logged_in, confidential_client, resource
):
    response = logged_in.get(authorize_url(confidential_client, resource=resource))
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_target")


def test_several_resources_make_an_audience_list(logged_in, confidential_client, resource_server):
    url = authorize_url(confidential_client) + "&" + f"resource={CALENDAR}&resource={MAIL}"
    response = consent(logged_in, url)
    code = response.headers["Location"].split("code=")[1].split("&")[0]
    body = exchange_code(logged_in, confidential_client, code).get_json()
    assert _claims(logged_in, body)["aud"] == [CALENDAR, MAIL]
    seen = introspect(logged_in, resource_server, body["access_token"]).get_json()
    assert seen["aud"] == [CALENDAR, MAIL]


def test_token_request_may_narrow_the_granted_resources(logged_in, confidential_client):
    url = authorize_url(confidential_client) + f"&resource={CALENDAR}&resource={MAIL}"
    location = consent(logged_in, url).headers["Location"]
    code = location.split("code=")[1].split("&")[0]
    body = exchange_code(logged_in, confidential_client, code, resource=MAIL).get_json()
    assert _claims(logged_in, body)["aud"] == MAIL


def test_token_request_cannot_widen_and_the_refusal_changes_nothing(logged_in, confidential_client):
    code, _ = get_code(logged_in, confidential_client, resource=CALENDAR)
    # Known to the server, but not what the person approved.
    widened = exchange_code(logged_in, confidential_client, code, resource=MAIL)
    assert_oauth_error(widened, "invalid_target")
    default = exchange_code(logged_in, confidential_client, code, resource=DEFAULT)
    assert_oauth_error(default, "invalid_target")
    # The code was not spent by the refusals.
    response = exchange_code(logged_in, confidential_client, code)
    assert response.status_code == 200, response.data
    assert _claims(logged_in, response.get_json())["aud"] == CALENDAR


def test_refresh_may_narrow_never_widen(logged_in, confidential_client):
    url = authorize_url(confidential_client) + f"&resource={CALENDAR}&resource={MAIL}"
    location = consent(logged_in, url).headers["Location"]
    code = location.split("code=")[1].split("&")[0]
    first = exchange_code(logged_in, confidential_client, code).get_json()
    narrowed = refresh(logged_in, confidential_client, first["refresh_token"], resource=CALENDAR)
    assert narrowed.status_code == 200, narrowed.data
    assert _claims(logged_in, narrowed.get_json())["aud"] == CALENDAR
    # The grant keeps both: the next refresh may name the other one.
    second = narrowed.get_json()["refresh_token"]
    widened = refresh(logged_in, confidential_client, second, resource=DEFAULT)
    assert_oauth_error(widened, "invalid_target")
    again = refresh(logged_in, confidential_client, second)
    assert again.status_code == 200, again.data
    assert _claims(logged_in, again.get_json())["aud"] == [CALENDAR, MAIL]


def _client_credentials(http, app_client, **data):
    return http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **data},
        headers=basic_auth(app_client.client_id, app_client.secret),
    )


def test_client_credentials_take_a_known_resource(app, client):
    with app.app_context():
        service = factories.make_service_client()
    response = _client_credentials(client, service, resource=MAIL)
    assert response.status_code == 200, response.data
    assert _claims(client, response.get_json())["aud"] == MAIL
    plain = _client_credentials(client, service)
    assert _claims(client, plain.get_json())["aud"] == DEFAULT


def test_client_credentials_refuse_an_unknown_resource(app, client):
    with app.app_context():
        service = factories.make_service_client()
    response = _client_credentials(client, service, resource="https://unknown.example/")
    assert_oauth_error(response, "invalid_target")
    fragment = _client_credentials(client, service, resource=MAIL + "#x")
    assert_oauth_error(fragment, "invalid_target")


def test_a_resource_registered_to_a_client_is_known(app, client, logged_in, confidential_client):
    registered = "https://reports.example.org/"
    with app.app_context():
        service = factories.make_service_client()
        assert_oauth_error(
            _client_credentials(client, service, resource=registered), "invalid_target"
        )
        api = find_client(service.client_id)
        resources.register(api, [registered])
        db.session.commit()
    response = _client_credentials(client, service, resource=registered)
    assert _claims(client, response.get_json())["aud"] == registered
    person = _tokens(logged_in, confidential_client, resource=registered)
    assert _claims(logged_in, person.get_json())["aud"] == registered


def test_cli_registers_resources(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "clients",
            "create",
            "--name",
            "Reports API",
            "--scope",
            "events:read",
            "--grant-type",
            "client_credentials",
            "--resource",
            "https://reports.example.org/",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert resources.is_known("https://reports.example.org/")
    bad = runner.invoke(
        args=[
            "clients",
            "create",
            "--name",
            "Bad",
            "--scope",
            "events:read",
            "--grant-type",
            "client_credentials",
            "--resource",
            "https://x.example/#f",
        ]
    )
    assert bad.exit_code != 0
    assert "fragment" in bad.output


def test_a_resource_not_yet_allowed_brings_the_consent_page_back(logged_in, confidential_client):
    consent(logged_in, authorize_url(confidential_client))
    # Same scopes, granted before: no page...
    assert logged_in.get(authorize_url(confidential_client)).status_code == 302
    # ...but a resource the person has not let the app reach yet is asked for, by name.
    page = logged_in.get(authorize_url(confidential_client, resource=CALENDAR))
    assert page.status_code == 200
    assert f'<strong class="resource">{CALENDAR}</strong>' in page.data.decode()
    consent(logged_in, authorize_url(confidential_client, resource=CALENDAR))
    again = logged_in.get(authorize_url(confidential_client, resource=CALENDAR))
    assert again.status_code == 302 and "code=" in again.headers["Location"]
    # The default audience never needs naming.
    assert logged_in.get(authorize_url(confidential_client, resource=DEFAULT)).status_code == 302
