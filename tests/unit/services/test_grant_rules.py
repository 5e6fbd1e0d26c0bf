"""The grant's rules called directly (no HTTP): what presenting a code or a refresh token comes
to, and what taking a scope back does. Each test runs in a transaction that is rolled back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authserver import clock, policy
from authserver.extensions import db
from authserver.models import Client, User
from authserver.services import codes, consents, tokens
from authserver.services.codes import Redeemed
from authserver.services.tokens import Presented
from tests import factories

pytestmark = pytest.mark.usefixtures("rolled_back")

SCOPE = "openid offline_access events:read events:write"


@pytest.fixture
def person() -> User:
    return db.session.get(User, factories.make_user().id)


@pytest.fixture
def app_client(person: User) -> Client:
    return db.session.get(Client, factories.make_client(owner_email=person.email).id)


def a_code(person: User, client: Client, value: str = "code-value", ttl: int = 60) -> str:
    codes.create_code(
        client=client,
        user=person,
        code=value,
        redirect_uri=client.redirect_uris[0],
        redirect_uri_given=True,
        scope=SCOPE,
        ttl=ttl,
        auth_time=clock.now(),
    )
    db.session.flush()
    return value


def a_refresh_token(person: User, client: Client, value: str = "refresh-value") -> str:
    family = tokens.start_family(client, person, SCOPE)
    db.session.flush()
    tokens.record_refresh_token(value, family, life())
    db.session.flush()
    return value


def life() -> policy.Lifetimes:
    from flask import current_app

    return policy.lifetimes(current_app.config)


# --- codes.redeem ------------------------------------------------------------------------------


def test_a_code_is_claimed_once_then_reused(person, app_client):
    value = a_code(person, app_client)
    assert codes.redeem(value, app_client)[0] is Redeemed.CLAIMED
    assert codes.redeem(value, app_client)[0] is Redeemed.REUSED


def test_a_code_of_another_client_or_none_is_unknown(person, app_client):
    other = db.session.get(Client, factories.make_client(name="Other").id)
    value = a_code(person, app_client)
    assert codes.redeem(value, other) == (Redeemed.UNKNOWN, None)
    assert codes.redeem("never-issued", app_client) == (Redeemed.UNKNOWN, None)


def test_an_expired_code_is_expired(person, app_client):
    value = a_code(person, app_client, ttl=-1)
    assert codes.redeem(value, app_client)[0] is Redeemed.EXPIRED


@pytest.mark.parametrize("disabled", ["person", "client"])
def test_a_code_of_a_disabled_person_or_client_says_which(person, app_client, disabled):
    """The refusal names what happened, not a removal by the person (issue 19, item 11)."""
    value = a_code(person, app_client)
    (person if disabled == "person" else app_client).disabled_at = clock.now()
    db.session.flush()
    expected = Redeemed.PERSON_DISABLED if disabled == "person" else Redeemed.CLIENT_DISABLED
    assert codes.redeem(value, app_client)[0] is expected


def test_a_code_discarded_by_taking_its_scope_back_is_gone(person, app_client):
    value = a_code(person, app_client)
    consents.record_consent(person, app_client, SCOPE.split(), SCOPE.split())
    assert consents.revoke_scope(person, app_client, "events:write")
    assert codes.redeem(value, app_client) == (Redeemed.UNKNOWN, None)


# --- tokens.present_refresh_token ------------------------------------------------------------


def test_a_refresh_token_rotates_once_and_a_retry_gets_the_first_answer(person, app_client):
    value = a_refresh_token(person, app_client)
    first = tokens.present_refresh_token(value, app_client, life())
    assert first.outcome is Presented.ROTATE
    successor = tokens.record_refresh_token("successor", first.token.family, life())
    answer = {"access_token": "a", "refresh_token": "successor"}
    tokens.record_successor(first.token, value, successor, answer)
    db.session.flush()

    again = tokens.present_refresh_token(value, app_client, life())
    assert (again.outcome, again.retry_answer) == (Presented.RETRY, answer)


def test_a_retry_after_a_scope_was_taken_back_is_erased_not_theft(person, app_client):
    value = a_refresh_token(person, app_client)
    first = tokens.present_refresh_token(value, app_client, life())
    successor = tokens.record_refresh_token("successor", first.token.family, life())
    tokens.record_successor(first.token, value, successor, {"refresh_token": "successor"})
    db.session.flush()
    tokens.withdraw_scope(person, app_client, "events:write")
    db.session.flush()

    assert tokens.present_refresh_token(value, app_client, life()).outcome is Presented.ERASED
    assert first.token.family.revoked_at is None  # the grant lives on


def test_a_refresh_token_used_after_the_window_is_reuse(service_app, person, app_client):
    value = a_refresh_token(person, app_client)
    first = tokens.present_refresh_token(value, app_client, life())
    successor = tokens.record_refresh_token("successor", first.token.family, life())
    tokens.record_successor(first.token, value, successor, {"refresh_token": "successor"})
    first.token.rotated_at = clock.now() - timedelta(seconds=life().refresh_retry + 1)
    db.session.flush()
    assert tokens.present_refresh_token(value, app_client, life()).outcome is Presented.REUSED


def test_a_refresh_token_of_a_revoked_grant_or_disabled_person_is_dead(person, app_client):
    value = a_refresh_token(person, app_client)
    person.disabled_at = clock.now()
    db.session.flush()
    assert tokens.present_refresh_token(value, app_client, life()).outcome is Presented.DEAD

    person.disabled_at = None
    other = a_refresh_token(person, app_client, "other-refresh")
    tokens.revoke_everything(user=person)
    db.session.flush()
    assert tokens.present_refresh_token(other, app_client, life()).outcome is Presented.DEAD


def test_a_refresh_token_of_another_client_is_unknown(person, app_client):
    other = db.session.get(Client, factories.make_client(name="Other").id)
    value = a_refresh_token(person, app_client)
    assert tokens.present_refresh_token(value, other, life()).outcome is Presented.UNKNOWN


# --- consents.record_consent --------------------------------------------------------------------


def test_unticking_an_earlier_scope_narrows_live_grants_and_revokes_their_access(
    person, app_client
):
    consents.record_consent(person, app_client, SCOPE.split(), SCOPE.split())
    family = tokens.start_family(app_client, person, SCOPE)
    db.session.flush()
    kept = [s for s in SCOPE.split() if s != "events:write"]

    consents.record_consent(person, app_client, SCOPE.split(), kept)

    assert family.scope.split() == kept
    assert consents.granted(person, app_client) == kept
