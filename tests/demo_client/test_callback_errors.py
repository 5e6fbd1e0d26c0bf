"""Error responses at the demo client's callback: believed only with this browser's ``state``
and the discovered issuer's ``iss`` (RFC 9207 §2.4), and never a stage for someone's text."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from examples.demo_client.views import DESCRIPTION_LENGTH
from tests.demo_client.conftest import ISSUER, authorize, follow, start_sign_in
from tests.helpers import query_of

LURE = "Your account is locked. Call +1 555 0100 to unlock it"
NOT_OURS = "This sign-in response was not for this app, or not from the expected server"


def callback(browser, **params: str):
    return browser.get("/callback?" + urlencode(params))


def assert_shown_as_not_ours(response) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert NOT_OURS in text
    assert "locked" not in text and "555" not in text and "server_error" not in text


def test_an_error_response_nobody_here_asked_for_echoes_nothing(demo):
    """The review's reproduction: a link to the callback with the attacker's description."""
    response = callback(demo.browser(), error="server_error", error_description=LURE)

    assert_shown_as_not_ours(response)


def test_an_error_response_with_a_state_this_browser_never_made_echoes_nothing(demo):
    browser = demo.browser()
    state = query_of(start_sign_in(browser))["state"]

    response = callback(
        browser, error="server_error", error_description=LURE, state=state + "x", iss=ISSUER
    )

    assert_shown_as_not_ours(response)


def test_an_error_response_with_another_browsers_state_echoes_nothing(demo):
    victim, attacker = demo.browser(), demo.browser()
    start_sign_in(victim)
    attackers_state = query_of(start_sign_in(attacker))["state"]

    response = callback(
        victim, error="server_error", error_description=LURE, state=attackers_state, iss=ISSUER
    )

    assert_shown_as_not_ours(response)


@pytest.mark.parametrize("iss", ["https://evil.example", None], ids=["another", "missing"])
def test_an_error_response_not_from_the_discovered_issuer_echoes_nothing(demo, iss):
    """RFC 9207 §2.4: the server says it sends ``iss``, so a missing one is refused too."""
    browser = demo.browser()
    state = query_of(start_sign_in(browser))["state"]
    params = {"error": "server_error", "error_description": LURE, "state": state}
    if iss is not None:
        params["iss"] = iss

    assert_shown_as_not_ours(callback(browser, **params))


def test_a_forged_access_denied_is_not_taken_for_the_persons_answer(demo):
    response = callback(demo.browser(), error="access_denied")

    assert_shown_as_not_ours(response)
    assert "You did not sign in" not in response.get_data(as_text=True)


def test_the_servers_own_error_response_shows_its_code_and_description_once(demo, server_browser):
    """A real error from the server (prompt=none before any consent: consent_required),
    with this browser's state and the issuer's iss."""
    browser = demo.browser()
    back = authorize(server_browser, start_sign_in(browser) + "&prompt=none")
    assert query_of(back)["error"] == "consent_required"

    shown = follow(browser, back)
    assert shown.status_code == 400
    text = shown.get_data(as_text=True)
    assert "Authserver could not sign you in (consent_required" in text
    assert NOT_OURS not in text
    # Its state is spent: the same response again is no longer this browser's.
    assert NOT_OURS in follow(browser, back).get_data(as_text=True)


def test_a_matching_error_descriptions_text_is_one_short_line(demo):
    browser = demo.browser()
    state = query_of(start_sign_in(browser))["state"]
    long_text = "Line one\nline\u202etwo " + "x" * 1000

    response = callback(
        browser, error="server_error", error_description=long_text, state=state, iss=ISSUER
    )

    text = response.get_data(as_text=True)
    kept = "Line one line two "
    assert kept + "x" * (DESCRIPTION_LENGTH - len(kept) - 1) + "…)" in text
    assert "\u202e" not in text
