"""Safe retries: the same refresh token sent again within AUTHSERVER_REFRESH_RETRY_WINDOW gets
the same successor back instead of ending the grant (SPEC, Tokens), and nothing usable is
stored in plain form to make that possible."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import RefreshToken
from authserver.security.secrets import hash_secret, unseal
from tests.helpers import assert_oauth_error, refresh
from tests.helpers import user_tokens as tokens


def test_a_retry_within_the_window_gets_the_same_answer(logged_in, confidential_client, fake_clock):
    """A client that lost the first answer (a flaky network) sends the same token again."""
    first = tokens(logged_in, confidential_client)
    answer = refresh(logged_in, confidential_client, first["refresh_token"]).get_json()
    fake_clock.advance(9)

    again = refresh(logged_in, confidential_client, first["refresh_token"])

    assert again.status_code == 200
    assert again.get_json() == answer
    # The grant lives on: the successor works (once), exactly as if there had been no retry.
    assert refresh(logged_in, confidential_client, answer["refresh_token"]).status_code == 200


def test_a_retry_after_the_window_is_reuse_and_ends_the_grant(
    logged_in, confidential_client, fake_clock
):
    """RFC 9700 §4.14.2: outside the window a rotated token coming back revokes the family."""
    first = tokens(logged_in, confidential_client)
    answer = refresh(logged_in, confidential_client, first["refresh_token"]).get_json()
    fake_clock.advance(11)

    assert_oauth_error(
        refresh(logged_in, confidential_client, first["refresh_token"]), "invalid_grant"
    )
    assert_oauth_error(
        refresh(logged_in, confidential_client, answer["refresh_token"]), "invalid_grant"
    )


def test_a_retry_after_the_successor_was_used_is_reuse(logged_in, confidential_client):
    """Once the successor has been used the first answer was not lost: the old token coming back
    means two holders, and the grant ends."""
    first = tokens(logged_in, confidential_client)
    answer = refresh(logged_in, confidential_client, first["refresh_token"]).get_json()
    third = refresh(logged_in, confidential_client, answer["refresh_token"]).get_json()

    assert_oauth_error(
        refresh(logged_in, confidential_client, first["refresh_token"]), "invalid_grant"
    )
    assert_oauth_error(
        refresh(logged_in, confidential_client, third["refresh_token"]), "invalid_grant"
    )


@pytest.mark.parametrize("app_config", [{"REFRESH_RETRY_WINDOW": 0}])
def test_the_window_is_a_setting(logged_in, confidential_client, fake_clock):
    first = tokens(logged_in, confidential_client)
    refresh(logged_in, confidential_client, first["refresh_token"])
    fake_clock.advance(1)
    assert_oauth_error(
        refresh(logged_in, confidential_client, first["refresh_token"]), "invalid_grant"
    )


def test_the_kept_answer_is_sealed_with_the_old_token_which_only_its_holder_has(
    app, logged_in, confidential_client
):
    """Secrets and refresh tokens are stored hashed (SPEC): the kept answer is encrypted under a
    key derived from the presented token, not readable from anything in the database."""
    first = tokens(logged_in, confidential_client)
    answer = refresh(logged_in, confidential_client, first["refresh_token"]).get_json()
    with app.app_context():
        row = db.session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == hash_secret(first["refresh_token"])
            )
        )
        stored = row.retry_answer
    assert answer["refresh_token"] not in stored and answer["access_token"] not in stored
    assert unseal(stored, hash_secret(first["refresh_token"]), app.secret_key) is None
    # A copy of the database and the old token are not enough: the server's key is needed too.
    assert unseal(stored, first["refresh_token"], "a key other than the server's") is None
    assert unseal(stored, first["refresh_token"], app.secret_key) == answer


def _sealed_answers(app) -> dict[str, str]:
    """Every sealed answer in the database, by the hash of the token it belongs to: what a
    stolen copy of the database holds."""
    with app.app_context():
        return {
            row.token_hash: row.retry_answer
            for row in db.session.scalars(select(RefreshToken))
            if row.retry_answer
        }


def test_a_database_copy_and_an_old_token_do_not_lead_to_the_live_one(
    app, logged_in, confidential_client, fake_clock
):
    """Issue 14, item 4: the sealed answer holds its successor, so it must be gone once that
    successor is used (and after the window, by cleanup): walking the chain from the family's
    first token stops at the first used successor. Even the server's own key is granted to the
    attacker here, to test the erasure alone."""
    first = tokens(logged_in, confidential_client)["refresh_token"]
    chain = [first]
    for _ in range(3):
        fake_clock.advance(1)
        chain.append(refresh(logged_in, confidential_client, chain[-1]).get_json()["refresh_token"])
    live = chain[-1]

    def walk(start: str) -> list[str]:
        sealed, reached, current = _sealed_answers(app), [], start
        while hash_secret(current) in sealed:
            opened = unseal(sealed[hash_secret(current)], current, app.secret_key)
            if opened is None:
                break
            current = opened["refresh_token"]
            reached.append(current)
        return reached

    # Only the newest used token still has its answer (its successor is unused, within the
    # window): every older one unseals nothing.
    for used in chain[:-2]:
        assert walk(used) == []
    assert walk(chain[-2]) == [live]

    # Once the window has passed, cleanup erases that one too.
    fake_clock.advance(11)
    result = app.test_cli_runner().invoke(args=["cleanup", "--json"])
    assert result.exit_code == 0, result.output
    assert walk(chain[-2]) == []
    assert _sealed_answers(app) == {}
    # The live token still refreshes: erasing answers takes nothing from its holder.
    assert refresh(logged_in, confidential_client, live).status_code == 200


def test_taking_a_scope_back_erases_answers_that_hold_it(
    app, logged_in, confidential_client, fake_clock
):
    """A retry after the person took a scope back must not replay the answer given before it
    (it holds that scope): refused, with the grant left alive."""
    from tests.helpers import csrf_token

    first = tokens(
        logged_in,
        confidential_client,
        scope="openid offline_access events:read events:write",
    )
    successor = refresh(logged_in, confidential_client, first["refresh_token"]).get_json()
    page = logged_in.get("/account/apps")
    taken = logged_in.post(
        f"/account/apps/{confidential_client.client_id}/revoke-scope",
        data={"csrf_token": csrf_token(page.data), "scope": "events:write"},
    )
    assert taken.status_code == 302
    assert _sealed_answers(app) == {}

    retry = refresh(logged_in, confidential_client, first["refresh_token"])
    assert_oauth_error(retry, "invalid_grant")
    next_answer = refresh(logged_in, confidential_client, successor["refresh_token"])
    assert next_answer.status_code == 200
    assert "events:write" not in next_answer.get_json()["scope"].split()
