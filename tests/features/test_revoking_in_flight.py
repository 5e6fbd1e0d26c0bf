"""Revoking an app revokes everything in flight, codes issued and not yet redeemed included."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AuthorizationCode
from tests.helpers import assert_oauth_error, csrf_token, exchange_code, get_code


def pending_codes(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(AuthorizationCode)
            .where(AuthorizationCode.redeemed_at.is_(None))
        )


def press(browser: FlaskClient, page: str, action: str) -> None:
    token = csrf_token(browser.get(page).data)
    response = browser.post(action, data={"csrf_token": token})
    assert response.status_code == 302, response.data


def test_removing_access_invalidates_a_code_not_yet_redeemed(app, logged_in, confidential_client):
    """RFC 6749 §4.1.2: a code carries the person's consent; once they withdraw it on the
    connected-apps page, a code already issued must not turn into tokens."""
    code, _ = get_code(logged_in, confidential_client)
    assert pending_codes(app) == 1

    press(logged_in, "/account/apps", f"/account/apps/{confidential_client.client_id}/revoke")

    assert pending_codes(app) == 0
    assert_oauth_error(exchange_code(app.test_client(), confidential_client, code), "invalid_grant")


def test_removing_one_app_leaves_codes_of_other_apps(app, logged_in, confidential_client):
    from tests import factories

    with app.app_context():
        other = factories.make_client(name="Other App")
    get_code(logged_in, confidential_client)
    other_code, _ = get_code(logged_in, other)

    press(logged_in, "/account/apps", f"/account/apps/{confidential_client.client_id}/revoke")

    assert exchange_code(app.test_client(), other, other_code).status_code == 200


def test_deleting_a_client_invalidates_its_codes(app, logged_in, confidential_client):
    """A deleted client's codes go with it: the developer console cannot leave codes behind."""
    code, _ = get_code(logged_in, confidential_client)

    page = f"/console/clients/{confidential_client.client_id}"
    press(logged_in, f"{page}/delete", f"{page}/delete")  # the confirmation page

    assert pending_codes(app) == 0
    response = exchange_code(app.test_client(), confidential_client, code)
    assert response.status_code == 401  # the client itself is gone: invalid_client
