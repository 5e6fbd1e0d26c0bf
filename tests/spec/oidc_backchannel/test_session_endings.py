"""Every way a person's session ends tells the clients they signed in to in it (the SPEC:
log out, log out everywhere, password change or reset, an operator's `sessions end`, disabling
or deleting the account)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from authserver.extensions import db
from authserver.models import User
from authserver.services import accounts, backchannel, operator
from tests.factories import PASSWORD
from tests.helpers import csrf_token

from .conftest import browser_for, deliver, messages, posted_tokens, sign_in

NEW_PASSWORD = "another horse battery staple"


def sids_told(app: Flask, receiver) -> list[str]:
    assert deliver(app).failed[backchannel.KIND] == 0
    key_set = KeySet.import_key_set(app.test_client().get("/oauth/jwks").get_json())
    return sorted(jwt.decode(t, key_set).claims["sid"] for t in posted_tokens(receiver))


def sid_of(browser) -> str:
    with browser.session_transaction() as cookie:
        return cookie["sid"]


def with_person(app: Flask, user_id: int, action: Callable[[User], object]) -> None:
    with app.app_context():
        action(db.session.get_one(User, user_id))
        db.session.commit()


def test_log_out_everywhere_tells_every_session(app, user, rp, receiver) -> None:
    laptop, phone = browser_for(app, user), browser_for(app, user)
    sign_in(laptop, rp)
    sign_in(phone, rp)
    both = sorted([sid_of(laptop), sid_of(phone)])
    token = csrf_token(laptop.get("/account/apps").data)
    laptop.post("/logout", data={"csrf_token": token, "everywhere": "y"})
    assert sids_told(app, receiver) == both


def test_a_password_change_tells_the_other_sessions_only(app, user, rp, receiver) -> None:
    here, other = browser_for(app, user), browser_for(app, user)
    sign_in(here, rp)
    sign_in(other, rp)
    kept, ended = sid_of(here), sid_of(other)
    with app.app_context():
        person = db.session.get_one(User, user.id)
        accounts.change_password(person, PASSWORD, NEW_PASSWORD, keep_sid=kept)
        db.session.commit()
    assert sids_told(app, receiver) == [ended]


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(operator.end_sessions, id="sessions-end"),
        pytest.param(operator.disable_user, id="users-disable"),
        pytest.param(operator.delete_user, id="users-delete"),
        pytest.param(lambda person: operator.set_password(person, NEW_PASSWORD), id="set-password"),
        pytest.param(lambda person: accounts.delete_account(person, PASSWORD), id="delete-account"),
    ],
)
def test_operator_and_account_endings_tell_the_client(app, user, rp, receiver, action) -> None:
    browser = browser_for(app, user)
    sign_in(browser, rp)
    sid = sid_of(browser)
    with_person(app, user.id, action)
    [(recipient, payload, _)] = messages(app)
    assert recipient == receiver.url("/backchannel-logout")
    assert payload["sub"] == user.subject and payload["sid"] == sid
    assert sids_told(app, receiver) == [sid]


def test_a_disabled_client_is_not_told(app, user, rp, receiver) -> None:
    browser = browser_for(app, user)
    sign_in(browser, rp)
    with app.app_context():
        operator.disable_client(operator.get_client(rp.client_id))
        db.session.commit()
    with_person(app, user.id, operator.end_sessions)
    assert messages(app) == []
