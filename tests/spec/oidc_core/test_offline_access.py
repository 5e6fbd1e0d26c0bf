"""Refresh tokens are the person's to give: ``offline_access`` (OIDC Core §11), and a family of
refresh tokens lives at most ``REFRESH_TOKEN_MAX_LIFETIME`` however often it is refreshed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests import factories
from tests.conftest import FakeClock
from tests.helpers import assert_oauth_error, exchange_code, get_code, refresh

WITHOUT_OFFLINE = ["openid", "profile", "events:read"]


def tokens_for(browser, app_client, ticked: list[str] | None = None, **params: str) -> dict:
    code, _ = get_code(browser, app_client, scopes=ticked, **params)
    response = exchange_code(browser, app_client, code)
    assert response.status_code == 200, response.data
    return response.get_json()


def test_unticking_offline_access_means_no_refresh_token(logged_in, confidential_client):
    """OIDC Core §11: offline_access asks for a refresh token; the person may refuse it, and the
    consent page's "Stay connected when you are not using it" box is how they do."""
    body = tokens_for(logged_in, confidential_client, ticked=WITHOUT_OFFLINE)

    assert "refresh_token" not in body
    assert "offline_access" not in body["scope"].split()


def test_not_asking_for_offline_access_means_no_refresh_token(logged_in, confidential_client):
    body = tokens_for(logged_in, confidential_client, scope="openid profile")

    assert "refresh_token" not in body


def test_granted_offline_access_gives_a_refresh_token(logged_in, confidential_client):
    body = tokens_for(logged_in, confidential_client, scope="openid offline_access")

    assert body["refresh_token"]
    assert body["scope"] == "openid offline_access"


def test_a_client_without_the_refresh_grant_gets_none_even_with_offline_access(app, logged_in):
    """SPEC: the client must hold the refresh_token grant AND the person grant offline_access."""
    with app.app_context():
        no_refresh = factories.make_client(grant_types=["authorization_code"])

    body = tokens_for(logged_in, no_refresh, scope="openid offline_access")

    assert "refresh_token" not in body


def _at(fake_clock: FakeClock, days: float) -> None:
    fake_clock.current = fake_clock.start + timedelta(days=days)


def test_a_family_ends_at_its_absolute_lifetime_however_often_refreshed(
    app, logged_in, confidential_client, fake_clock
):
    """RFC 9700 §4.14.2: refresh tokens may expire after a fixed time regardless of use; here
    90 days (AUTHSERVER_REFRESH_TOKEN_MAX_LIFETIME) on top of the sliding 30."""
    current = tokens_for(logged_in, confidential_client, scope="openid offline_access")[
        "refresh_token"
    ]
    for day in range(20, 81, 20):
        _at(fake_clock, day)
        response = refresh(app.test_client(), confidential_client, current)
        assert response.status_code == 200, (day, response.data)
        current = response.get_json()["refresh_token"]

    _at(fake_clock, 90.01)
    assert_oauth_error(refresh(app.test_client(), confidential_client, current), "invalid_grant")


@pytest.mark.parametrize("app_config", [{"REFRESH_TOKEN_MAX_LIFETIME": 3600}])
def test_the_absolute_lifetime_is_a_setting(app, logged_in, confidential_client, fake_clock):
    first = tokens_for(logged_in, confidential_client, scope="openid offline_access")
    _at(fake_clock, 0.5 / 24)
    second = refresh(app.test_client(), confidential_client, first["refresh_token"])
    assert second.status_code == 200

    _at(fake_clock, 1.01 / 24)
    assert_oauth_error(
        refresh(app.test_client(), confidential_client, second.get_json()["refresh_token"]),
        "invalid_grant",
    )
