from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from authserver import policy
from tests import factories
from tests.helpers import basic_auth, csrf_token

DEVICE_SCOPE = "openid profile offline_access events:read"


@pytest.fixture
def device_client(app, user) -> factories.ClientInfo:
    """A public client, as a TV app or a command line is."""
    with app.app_context():
        return factories.make_client(
            public=True,
            grant_types=[policy.DEVICE_CODE_GRANT, "refresh_token"],
            redirect_uris=[],
            scope=DEVICE_SCOPE,
            name="Living-room TV",
        )


def start(http: FlaskClient, app_client: factories.ClientInfo, **data: str):
    data.setdefault("scope", DEVICE_SCOPE)
    headers = {}
    if app_client.secret:
        headers = basic_auth(app_client.client_id, app_client.secret)
    else:
        data.setdefault("client_id", app_client.client_id)
    return http.post("/oauth/device_authorization", data=data, headers=headers)


def started(http: FlaskClient, app_client: factories.ClientInfo, **data: str) -> dict:
    response = start(http, app_client, **data)
    assert response.status_code == 200, response.data
    return response.get_json()


def poll(http: FlaskClient, app_client: factories.ClientInfo, device_code: str):
    data = {"grant_type": policy.DEVICE_CODE_GRANT, "device_code": device_code}
    headers = {}
    if app_client.secret:
        headers = basic_auth(app_client.client_id, app_client.secret)
    else:
        data["client_id"] = app_client.client_id
    return http.post("/oauth/token", data=data, headers=headers)


def enter(browser: FlaskClient, user_code: str):
    """Type the user code on /device: the consent page, or the form again with an error."""
    page = browser.get("/device")
    assert page.status_code == 200, page.data
    return browser.post(
        "/device", data={"csrf_token": csrf_token(page.data), "user_code": user_code}
    )


def answer(browser: FlaskClient, consent_page, decision: str = "allow", scopes=None):
    html = consent_page.data.decode()
    assert consent_page.status_code == 200, html
    if scopes is None:
        scopes = re.findall(r'name="scope" value="([^"]+)"', html)
    user_code = re.search(r'name="user_code" value="([^"]+)"', html).group(1)
    return browser.post(
        "/device",
        data={
            "csrf_token": csrf_token(consent_page.data),
            "user_code": user_code,
            "decision": decision,
            "scope": scopes,
        },
    )
