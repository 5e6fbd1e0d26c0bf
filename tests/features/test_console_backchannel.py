"""The developer console registers, shows, changes and clears a client's back-channel logout
URI (OpenID Connect Back-Channel Logout 1.0 §2.2), held to the same rules as registration."""

from __future__ import annotations

from authserver.extensions import db
from authserver.services import operator
from tests.features.test_console import credentials_shown, edit, register

URI = "https://app.example.com/backchannel-logout"


def stored_uri(app, client_id: str) -> str | None:
    with app.app_context():
        uri = operator.get_client(client_id).backchannel_logout_uri
        db.session.rollback()
        return uri


def test_registered_shown_changed_and_cleared(app, logged_in) -> None:
    client_id, _ = credentials_shown(register(logged_in, backchannel_logout_uri=URI))
    assert stored_uri(app, client_id) == URI
    page = logged_in.get(f"/console/clients/{client_id}").get_data(as_text=True)
    assert f"<code>{URI}</code>" in page
    form = logged_in.get(f"/console/clients/{client_id}/edit").get_data(as_text=True)
    assert f'value="{URI}"' in form  # the edit form starts from what is stored

    other = "https://app.example.com/other-logout"
    assert edit(logged_in, client_id, backchannel_logout_uri=other).status_code == 302
    assert stored_uri(app, client_id) == other
    assert edit(logged_in, client_id, backchannel_logout_uri="").status_code == 302
    assert stored_uri(app, client_id) is None


def test_a_plain_http_uri_is_refused_at_its_field(app, logged_in) -> None:
    response = register(logged_in, backchannel_logout_uri="http://app.example.com/logout")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Back-channel logout URI" in page and "must use https" in page
