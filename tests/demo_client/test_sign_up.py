"""Sign up, sign in again, decline, and a forged callback."""

from __future__ import annotations

from tests.demo_client.conftest import sign_in


def test_first_sign_in_creates_a_local_user(demo, server_browser):
    browser = demo.browser()
    response = sign_in(browser, server_browser)
    assert response.status_code == 302, response.data
    assert response.headers["Location"] == "/dashboard"
    page = browser.get("/dashboard")
    assert page.status_code == 200, page.data
    assert b"demo@example.com" in page.data
