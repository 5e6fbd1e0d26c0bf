"""Bounded storage: `cleanup` deletes what can no longer matter, and a month of traffic leaves
the tables no bigger than a few days of it."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import (
    AccessToken,
    AuditEvent,
    AuthorizationCode,
    RefreshToken,
    TokenFamily,
    UserSession,
)
from tests import factories
from tests.helpers import client_credentials_token, exchange_code, get_code, login, refresh

TABLES = [AccessToken, RefreshToken, TokenFamily, AuthorizationCode, UserSession, AuditEvent]


def sizes(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in TABLES
        }


def run_cleanup(app) -> dict:
    result = app.test_cli_runner().invoke(args=["cleanup", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_month_of_traffic_keeps_the_tables_bounded(app, user, fake_clock):
    """Each simulated day: a login, a code flow with a refresh, a client_credentials token, a
    failed login; cleanup runs daily. Short-lived rows stay at a day's worth; refresh tokens and
    their families (30 days, sliding) stop growing once the first ones expire."""
    with app.app_context():
        web_app = factories.make_client(owner_email=user.email)
        service = factories.make_service_client()
    daily = []
    for _ in range(40):
        browser = app.test_client()
        login(browser, user.email, user.password)
        login(app.test_client(), user.email, "a wrong password")
        code, _ = get_code(browser, web_app)
        body = exchange_code(browser, web_app, code).get_json()
        refresh(browser, web_app, body["refresh_token"])
        client_credentials_token(app.test_client(), service)
        fake_clock.advance(86_400)
        run_cleanup(app)
        daily.append(sizes(app))

    day_33, day_40 = daily[32], daily[39]
    for table in ("access_tokens", "authorization_codes", "user_sessions"):
        assert day_40[table] <= 5, (table, day_40)
    # Two refresh tokens a day (one rotated, kept to recognise reuse) for their 30 days.
    for table in ("refresh_tokens", "token_families"):
        assert day_40[table] == day_33[table], (table, daily)
    assert day_40["refresh_tokens"] <= 2 * 31
    assert day_40["token_families"] <= 31


def test_cleanup_keeps_what_still_works(app, logged_in, confidential_client):
    code, _ = get_code(logged_in, confidential_client)
    body = exchange_code(logged_in, confidential_client, code).get_json()

    run_cleanup(app)

    assert logged_in.get("/account/apps").status_code == 200
    assert refresh(app.test_client(), confidential_client, body["refresh_token"]).status_code == 200


def test_audit_events_go_after_the_retention(app, user, fake_clock):
    login(app.test_client(), user.email, "a wrong password")
    assert sizes(app)["audit_events"] == 1
    fake_clock.advance(89 * 86_400)
    run_cleanup(app)
    assert sizes(app)["audit_events"] == 1
    fake_clock.advance(2 * 86_400)
    assert run_cleanup(app)["audit_events"] == 1
    assert sizes(app)["audit_events"] == 0
