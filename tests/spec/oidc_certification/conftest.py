"""The server as the conformance suite meets it: an https issuer, a static confidential client
registered for the scopes it asks, a person to log in, and a clock the timed modules move."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.conftest import FakeClock

from .conformance import ISSUER

#: What the suite's static client is registered for (``client.scope`` in its configuration).
SUITE_SCOPE = "openid profile email offline_access"
SUITE_REDIRECT_URI = "https://suite.example.test/test/a/authserver/callback"


@pytest.fixture
def app_config() -> dict:
    return {"ISSUER": ISSUER}


@pytest.fixture
def clock(fake_clock: FakeClock) -> FakeClock:
    return fake_clock


@pytest.fixture
def suite_client(app: Flask, user: factories.UserInfo) -> factories.ClientInfo:
    """The static client ``client_secret_basic`` (and ``client_secret_post``) modules use."""
    with app.app_context():
        return factories.make_client(
            owner_email=user.email, scope=SUITE_SCOPE, redirect_uris=[SUITE_REDIRECT_URI]
        )


@pytest.fixture
def second_client(app: Flask, user: factories.UserInfo) -> factories.ClientInfo:
    """The suite's ``client2``, for the modules that check binding to one client."""
    with app.app_context():
        return factories.make_client(
            owner_email=user.email,
            scope=SUITE_SCOPE,
            redirect_uris=[SUITE_REDIRECT_URI],
            name="Conformance suite client 2",
        )


@pytest.fixture
def browser(app: Flask, clock: FakeClock) -> FlaskClient:
    """A fresh user agent: no cookie of the server's ("remove any cookies you may have
    received from the OpenID Provider before proceeding")."""
    return app.test_client()
