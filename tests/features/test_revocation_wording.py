"""What /account/apps promises about "Remove access" and "Take back": at once at this server,
and, at APIs that check JWTs themselves, when the tokens already issued expire — said with this
deployment's access-token lifetime (ACCESS_TOKEN_TTL), not a fixed "at once"."""

from __future__ import annotations

import pytest

from authserver.views.account import duration_in_words
from tests.features.test_account_page import page_text, take_back
from tests.helpers import csrf_token, user_tokens


@pytest.mark.parametrize(
    ("app_config", "lifetime"),
    [
        ({}, "10 minutes"),  # the default, 600 s
        ({"ACCESS_TOKEN_TTL": 300}, "5 minutes"),
        ({"ACCESS_TOKEN_TTL": 5400}, "1 hour 30 minutes"),
    ],
)
def test_the_page_says_how_long_tokens_already_issued_may_still_be_accepted(
    app_config, lifetime, logged_in, confidential_client
):
    user_tokens(logged_in, confidential_client)

    text = page_text(logged_in)

    assert "takes effect at once" not in text
    assert "ends an app's access here at once" in text
    assert (
        "An access token the app already holds may still be accepted by services that check "
        f"tokens themselves until it expires, within {lifetime} (access tokens from this server "
        f"last {lifetime})." in text
    )


@pytest.mark.parametrize("app_config", [{"ACCESS_TOKEN_TTL": 120}])
def test_removing_an_app_says_what_still_works_and_for_how_long(
    app_config, logged_in, confidential_client
):
    user_tokens(logged_in, confidential_client)
    token = csrf_token(logged_in.get("/account/apps").data)
    logged_in.post(
        f"/account/apps/{confidential_client.client_id}/revoke", data={"csrf_token": token}
    )

    assert (
        "Example App no longer has access to your account. An access token it already holds "
        "may still work with services that check tokens themselves until it expires, within "
        "2 minutes." in page_text(logged_in)
    )


@pytest.mark.parametrize("app_config", [{"ACCESS_TOKEN_TTL": 90}])
def test_taking_back_a_permission_says_what_still_works_and_for_how_long(
    app_config, logged_in, confidential_client
):
    user_tokens(logged_in, confidential_client, scope="openid profile events:read")
    take_back(logged_in, confidential_client.client_id, "events:read")

    text = page_text(logged_in)
    assert "Example App no longer has this permission: See your calendar events." in text
    assert "until it expires, within 1 minute 30 seconds." in text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (60, "1 minute"),
        (600, "10 minutes"),
        (3600, "1 hour"),
        (3661, "1 hour 1 minute 1 second"),
        (2 * 86_400, "2 days"),
    ],
)
def test_durations_are_said_in_words(seconds, words):
    assert duration_in_words(seconds) == words
