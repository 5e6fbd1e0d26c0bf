"""OAuth 2.0 Form Post Response Mode for the code flow, errors included (SPEC, "Policy")."""

from __future__ import annotations

import html
import re

from tests.helpers import authorize_url, consent, exchange_code, query_of

_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _posted(response) -> tuple[str, dict[str, str]]:
    """The form's action and fields, after checking the page keeps the CSP promise."""
    assert response.status_code == 200, response.data
    page = response.data.decode()
    assert "<script>" not in page and "onload" not in page  # no inline script
    assert 'src="/static/form_post.js"' in page
    assert "script-src" in response.headers["Content-Security-Policy"] or (
        "default-src 'self'" in response.headers["Content-Security-Policy"]
    )
    assert response.headers["Cache-Control"] == "no-store"
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    assert '<button type="submit"' in page  # usable without JavaScript
    fields = {name: html.unescape(value) for name, value in _FIELD.findall(page)}
    return action, fields


def test_code_is_posted_to_the_redirect_uri(logged_in, confidential_client):
    url = authorize_url(confidential_client, response_mode="form_post")
    action, fields = _posted(consent(logged_in, url))
    assert action == confidential_client.redirect_uri
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == "state-123"
    assert fields["iss"] == "http://127.0.0.1:5000"
    response = exchange_code(logged_in, confidential_client, fields["code"])
    assert response.status_code == 200, response.data


def test_a_code_without_the_consent_page_is_posted_too(logged_in, confidential_client):
    consent(logged_in, authorize_url(confidential_client))
    again = logged_in.get(authorize_url(confidential_client, response_mode="form_post"))
    action, fields = _posted(again)
    assert action == confidential_client.redirect_uri and "code" in fields


def test_a_denial_is_posted(logged_in, confidential_client):
    url = authorize_url(confidential_client, response_mode="form_post")
    _, fields = _posted(consent(logged_in, url, decision="deny"))
    assert fields["error"] == "access_denied"
    assert fields["state"] == "state-123"
    assert "code" not in fields


def test_a_request_error_is_posted(logged_in, confidential_client):
    url = authorize_url(confidential_client, response_mode="form_post", scope="openid bogus")
    _, fields = _posted(logged_in.get(url))
    assert fields["error"] == "invalid_scope"
    target = authorize_url(
        confidential_client, response_mode="form_post", resource="https://unknown.example/"
    )
    _, fields = _posted(logged_in.get(target))
    assert fields["error"] == "invalid_target"


def test_state_is_escaped_in_the_page(logged_in, confidential_client):
    state = '"><script>alert(1)</script>'
    url = authorize_url(confidential_client, response_mode="form_post", state=state)
    response = consent(logged_in, url)
    assert "<script>alert(1)" not in response.data.decode()
    _, fields = _posted(response)
    assert fields["state"] == state


def test_logging_in_is_a_redirect_not_a_post(client, confidential_client):
    response = client.get(authorize_url(confidential_client, response_mode="form_post"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_an_unknown_redirect_uri_is_never_posted_to(logged_in, confidential_client):
    url = authorize_url(
        confidential_client, response_mode="form_post", redirect_uri="https://evil.example/cb"
    )
    response = logged_in.get(url)
    assert response.status_code == 400
    page = response.data.decode()
    # The developer is shown the URI that was sent, as text (issue 19, item 11), never a form
    # or a link that would take the person there.
    assert "<form" not in page or 'action="https://evil.example' not in page
    assert 'href="https://evil.example' not in page
    assert "Location" not in response.headers


def test_an_unsupported_response_mode_is_invalid_request(logged_in, confidential_client):
    response = logged_in.get(authorize_url(confidential_client, response_mode="fragment"))
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_metadata_advertises_form_post(client):
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["response_modes_supported"] == ["query", "form_post"]


def test_the_static_script_submits_the_form(client):
    with client.get("/static/form_post.js") as script:
        assert script.status_code == 200
        assert b"form[data-auto-submit]" in script.data and b".submit()" in script.data
