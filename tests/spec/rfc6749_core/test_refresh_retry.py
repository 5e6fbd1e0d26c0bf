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
