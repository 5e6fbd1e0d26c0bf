"""The developer console: a developer registers, edits, rotates and deletes their own clients."""

from __future__ import annotations

import hashlib
import html
import re
import warnings
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from authserver.extensions import db
from authserver.models import AuditEvent, Base, Client, Consent, RefreshToken, TokenFamily
from authserver.services import clients
from tests import factories
from tests.factories import ClientInfo
from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    authorize_url,
    basic_auth,
    csrf_token,
    exchange_code,
    get_code,
    refresh,
)

NEW = "/console/clients/new"


def register(browser: FlaskClient, **fields: object) -> TestResponse:
    """Fill in and submit the registration form; unspecified fields keep sensible values."""
    page = browser.get(NEW)
    assert page.status_code == 200, page.status_code
    data: dict[str, object] = {
        "name": "My App",
        "redirect_uris": "https://app.example.com/callback",
        "scopes": ["openid", "profile", "events:read"],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "client_type": "confidential",
        "csrf_token": csrf_token(page.data),
    }
    data.update(fields)
    return browser.post(NEW, data=data)


def credentials_shown(response: TestResponse) -> tuple[str, str | None]:
    """The client id and (when there is one) the secret on the "registered" page."""
    page = response.get_data(as_text=True)
    client_id = re.search(r'<code id="client-id"[^>]*>([^<]+)</code>', page)
    assert client_id, page
    secret = re.search(r'<code id="client-secret"[^>]*>([^<]+)</code>', page)
    return html.unescape(client_id.group(1)), html.unescape(secret.group(1)) if secret else None


def edit(browser: FlaskClient, client_id: str, **fields: object) -> TestResponse:
    url = f"/console/clients/{client_id}/edit"
    page = browser.get(url)
    assert page.status_code == 200, page.status_code
    data: dict[str, object] = {
        "name": "Example App",
        "redirect_uris": factories.REDIRECT_URI,
        "scopes": factories.ALL_SCOPES.split(),
        "grant_types": ["authorization_code", "refresh_token"],
        "csrf_token": csrf_token(page.data),
    }
    data.update(fields)
    return browser.post(url, data=data)


def action(browser: FlaskClient, client_id: str, what: str) -> TestResponse:
    """Follow the "rotate-secret" or "delete" link on the client's page and confirm."""
    show = browser.get(f"/console/clients/{client_id}").get_data(as_text=True)
    assert f'href="/console/clients/{client_id}/{what}"' in show
    confirm = browser.get(f"/console/clients/{client_id}/{what}")
    assert confirm.status_code == 200, confirm.status_code
    return browser.post(
        f"/console/clients/{client_id}/{what}", data={"csrf_token": csrf_token(confirm.data)}
    )


def client_credentials(app: Flask, client_id: str, secret: str) -> TestResponse:
    """A token request from the client's own server (no browser session)."""
    return app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "events:read"},
        headers=basic_auth(client_id, secret),
    )


def page_text(response: TestResponse) -> str:
    """The page as a person reads it: entities decoded, runs of white space as one space."""
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def client_row(app: Flask, client_id: str) -> dict | None:
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == client_id))
        if row is None:
            return None
        return {
            "name": row.name,
            "secret_hash": row.client_secret_hash,
            "redirect_uris": list(row.redirect_uris),
            "scope": row.scope,
            "grant_types": list(row.grant_types),
        }


def client_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Client))


def every_stored_value(app: Flask) -> list[str]:
    """Every value of every column of every table, as text."""
    values = []
    with app.app_context():
        with db.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(table.select()):
                    values.extend(str(v) for v in row)
    return values


@pytest.fixture
def other_developer(app: Flask) -> factories.UserInfo:
    with app.app_context():
        return factories.make_user(email="someone-else@example.com")


@pytest.fixture
def others_client(app: Flask, other_developer: factories.UserInfo) -> ClientInfo:
    with app.app_context():
        return factories.make_client(owner_email=other_developer.email, name="Not Yours")


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/", NEW])
def test_console_requires_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


def test_client_page_requires_login(client, confidential_client):
    response = client.get(f"/console/clients/{confidential_client.client_id}")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_console_post_without_login_changes_nothing(app, client, confidential_client):
    token = csrf_token(client.get("/login").data)  # a valid token of an anonymous session

    response = client.post(
        f"/console/clients/{confidential_client.client_id}/delete", data={"csrf_token": token}
    )

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert client_row(app, confidential_client.client_id) is not None


def test_login_from_the_console_returns_to_the_console(client, user):
    target = client.get(NEW).headers["Location"]
    page = client.get(target)
    response = client.post(
        target,
        data={"email": user.email, "password": user.password, "csrf_token": csrf_token(page.data)},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == NEW


# --- registering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [NEW, "/console/clients/{client_id}/edit"])
def test_registration_form_renders_without_deprecation_warnings(
    logged_in, confidential_client, path
):
    """The form must keep working on the next WTForms release, where the deprecated API is gone
    (and this suite turns every warning into an error)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = logged_in.get(path.format(client_id=confidential_client.client_id))

    assert response.status_code == 200
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []


def test_registering_a_confidential_client_shows_its_id_and_secret_once(app, logged_in):
    """SPEC: client secrets are shown once and stored as a SHA-256 hash."""
    response = register(logged_in, name="Calendar Sync")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    client_id, secret = credentials_shown(response)
    assert secret is not None
    assert len(secret) >= 43  # 256 bits of base64url

    # The secret is the real one...
    assert client_credentials(app, client_id, secret).status_code == 200
    # ...and it is stored only as its SHA-256, nowhere in plain text.
    row = client_row(app, client_id)
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not [value for value in every_stored_value(app) if secret in value]

    # Never shown again: not on the client's page, the list or the edit form.
    for path in (
        f"/console/clients/{client_id}",
        "/console/",
        f"/console/clients/{client_id}/edit",
    ):
        page = logged_in.get(path)
        assert page.status_code == 200
        assert secret not in page.get_data(as_text=True)
    assert client_id in logged_in.get(f"/console/clients/{client_id}").get_data(as_text=True)


def test_registered_client_belongs_to_the_developer_and_is_listed(app, logged_in):
    client_id, _ = credentials_shown(register(logged_in, name="Calendar Sync"))

    index = logged_in.get("/console/").get_data(as_text=True)
    assert "Calendar Sync" in index
    assert client_id in index
    row = client_row(app, client_id)
    assert row["redirect_uris"] == ["https://app.example.com/callback"]
    assert row["scope"] == "openid profile events:read"


def test_public_client_gets_no_secret(app, logged_in):
    response = register(
        logged_in, client_type="public", grant_types=["authorization_code", "refresh_token"]
    )

    assert response.status_code == 200
    client_id, secret = credentials_shown(response)
    assert secret is None
    assert "public client" in response.get_data(as_text=True)
    assert client_row(app, client_id)["secret_hash"] is None
    show = logged_in.get(f"/console/clients/{client_id}").get_data(as_text=True)
    assert "rotate-secret" not in show


def test_public_client_cannot_use_client_credentials(app, logged_in):
    response = register(logged_in, client_type="public")

    assert response.status_code == 400
    assert "cannot use client credentials" in html.unescape(response.get_data(as_text=True))
    assert client_count(app) == 0


def test_public_client_has_no_secret_to_rotate(app, logged_in, public_client):
    url = f"/console/clients/{public_client.client_id}/rotate-secret"
    token = csrf_token(logged_in.get("/account/apps").data)

    for send in (logged_in.get, lambda u: logged_in.post(u, data={"csrf_token": token})):
        response = send(url)
        assert response.status_code == 302
        shown = logged_in.get(response.headers["Location"]).get_data(as_text=True)
        assert "A public client has no secret." in shown
    assert client_row(app, public_client.client_id)["secret_hash"] is None


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("/callback", "must be an absolute URL"),
        ("http://example.com/cb", "must use https"),
        ("http://localhost.evil.example/cb", "must use https"),
        ("https://app.example.com/cb#fragment", "must not contain a fragment"),
        ("ftp://app.example.com/cb", "must use https"),
        ("garbage", "must be an absolute URL"),
        ("javascript:alert(1)", "must be an absolute URL"),
        ("https://user:pass@app.example.com/cb", "must not contain a user name or password"),
        ("https://app.example.com:99999/cb", "is not a valid URL"),
    ],
)
def test_invalid_redirect_uri_is_refused_and_nothing_is_saved(app, logged_in, uri, problem):
    """RFC 6749 §3.1.2 (absolute, no fragment) and RFC 9700 §2.1 / RFC 8252 §7.3 (https, or
    plain http only on the loopback interface)."""
    response = register(
        logged_in, name="Keep This Name", redirect_uris=f"https://app.example.com/ok\n{uri}"
    )

    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert f"Redirect URI {uri!r} {problem}" in page
    assert 'class="field has-error"' in page
    assert 'value="Keep This Name"' in page  # what was typed is kept for correcting
    assert client_count(app) == 0


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:8000/cb", "http://localhost/cb", "http://[::1]/cb"]
)
def test_loopback_http_redirect_uri_is_accepted(app, logged_in, uri):
    """RFC 8252 §7.3: native apps listen on the loopback interface over plain http."""
    response = register(logged_in, redirect_uris=uri)

    assert response.status_code == 200
    client_id, _ = credentials_shown(response)
    assert client_row(app, client_id)["redirect_uris"] == [uri]


def test_registration_without_a_redirect_uri_for_the_code_grant_is_refused(app, logged_in):
    response = register(logged_in, redirect_uris="")

    assert response.status_code == 400
    assert "needs a redirect URI" in response.get_data(as_text=True)
    assert client_count(app) == 0


# --- rotating the secret ------------------------------------------------------------------------


@pytest.fixture
def machine_client(app: Flask, user: factories.UserInfo) -> ClientInfo:
    with app.app_context():
        return factories.make_client(
            owner_email=user.email,
            scope="openid events:read",
            grant_types=["authorization_code", "refresh_token", "client_credentials"],
        )


def test_rotating_the_secret_keeps_the_old_one_for_the_grace_period_then_stops_it(
    app, logged_in, machine_client, fake_clock
):
    """SPEC: AUTHSERVER_CLIENT_SECRET_GRACE — seconds the previous client secret keeps working
    after a rotation (86400 by default)."""
    assert (
        client_credentials(app, machine_client.client_id, machine_client.secret).status_code == 200
    )

    response = action(logged_in, machine_client.client_id, "rotate-secret")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    client_id, new_secret = credentials_shown(response)
    assert client_id == machine_client.client_id
    assert new_secret and new_secret != machine_client.secret
    assert "The previous secret keeps working until" in response.get_data(as_text=True)
    assert client_credentials(app, client_id, new_secret).status_code == 200
    assert client_credentials(app, client_id, machine_client.secret).status_code == 200
    assert (
        client_row(app, client_id)["secret_hash"] == hashlib.sha256(new_secret.encode()).hexdigest()
    )
    show = logged_in.get(f"/console/clients/{client_id}").get_data(as_text=True)
    assert new_secret not in show
    assert "The previous secret keeps working until" in show

    fake_clock.advance(86_400)

    assert_oauth_error(
        client_credentials(app, client_id, machine_client.secret), "invalid_client", 401
    )
    assert client_credentials(app, client_id, new_secret).status_code == 200
    show = logged_in.get(f"/console/clients/{client_id}").get_data(as_text=True)
    assert "The previous secret keeps working until" not in show


@pytest.mark.parametrize("app_config", [{"CLIENT_SECRET_GRACE": 0}])
def test_with_no_grace_period_rotating_stops_the_old_secret_at_once(app, logged_in, machine_client):
    response = action(logged_in, machine_client.client_id, "rotate-secret")
    _, new_secret = credentials_shown(response)

    assert_oauth_error(
        client_credentials(app, machine_client.client_id, machine_client.secret),
        "invalid_client",
        401,
    )
    assert client_credentials(app, machine_client.client_id, new_secret).status_code == 200


def test_rotating_twice_ends_the_first_secret_at_once(app, logged_in, machine_client):
    """Only the secret just replaced gets a grace period."""
    _, second = credentials_shown(action(logged_in, machine_client.client_id, "rotate-secret"))
    _, third = credentials_shown(action(logged_in, machine_client.client_id, "rotate-secret"))

    assert_oauth_error(
        client_credentials(app, machine_client.client_id, machine_client.secret),
        "invalid_client",
        401,
    )
    assert client_credentials(app, machine_client.client_id, second).status_code == 200
    assert client_credentials(app, machine_client.client_id, third).status_code == 200


def test_the_rotate_page_offers_to_end_the_old_secret_now_and_says_what_each_choice_does(
    app, logged_in, machine_client
):
    page = logged_in.get(f"/console/clients/{machine_client.client_id}/rotate-secret")

    text = page_text(page)
    assert "keeps working for 86400 seconds (24 hours) more" in text
    assert "Rotate and end the old secret now" in text
    assert "stops working at once" in text
    assert re.search(r'<button type="submit" name="previous" value="end"[^>]*>', text)


def test_rotate_and_end_the_old_secret_now_refuses_the_old_one_at_once(
    app, logged_in, machine_client
):
    """A leaked secret must stop working now, not after the grace period; the default rotation
    (above) keeps the old one working."""
    confirm = logged_in.get(f"/console/clients/{machine_client.client_id}/rotate-secret")

    response = logged_in.post(
        f"/console/clients/{machine_client.client_id}/rotate-secret",
        data={"csrf_token": csrf_token(confirm.data), "previous": "end"},
    )

    assert response.status_code == 200
    _, new_secret = credentials_shown(response)
    assert "The previous secret keeps working" not in response.get_data(as_text=True)
    assert_oauth_error(
        client_credentials(app, machine_client.client_id, machine_client.secret),
        "invalid_client",
        401,
    )
    assert client_credentials(app, machine_client.client_id, new_secret).status_code == 200
    show = logged_in.get(f"/console/clients/{machine_client.client_id}").get_data(as_text=True)
    assert "The previous secret keeps working until" not in show


def test_ending_the_old_secret_now_also_ends_an_earlier_one_in_its_grace_period(
    app, logged_in, machine_client
):
    _, second = credentials_shown(action(logged_in, machine_client.client_id, "rotate-secret"))
    confirm = logged_in.get(f"/console/clients/{machine_client.client_id}/rotate-secret")
    _, third = credentials_shown(
        logged_in.post(
            f"/console/clients/{machine_client.client_id}/rotate-secret",
            data={"csrf_token": csrf_token(confirm.data), "previous": "end"},
        )
    )

    for old in (machine_client.secret, second):
        assert_oauth_error(
            client_credentials(app, machine_client.client_id, old), "invalid_client", 401
        )
    assert client_credentials(app, machine_client.client_id, third).status_code == 200


@pytest.mark.parametrize("app_config", [{"CLIENT_SECRET_GRACE": 30}])
def test_rotated_secret_works_for_a_code_exchange(app, logged_in, confidential_client, fake_clock):
    response = action(logged_in, confidential_client.client_id, "rotate-secret")
    _, new_secret = credentials_shown(response)
    rotated = ClientInfo(
        confidential_client.id,
        confidential_client.client_id,
        new_secret,
        confidential_client.redirect_uri,
        confidential_client.scope,
    )
    code, _ = get_code(logged_in, confidential_client)
    fake_clock.advance(31)  # past the grace period, within the code's 60 seconds

    old = exchange_code(logged_in, confidential_client, code)
    assert_oauth_error(old, "invalid_client", 401)
    assert exchange_code(logged_in, rotated, code).status_code == 200


@pytest.mark.parametrize("what", ["rotate-secret", "delete"])
def test_rotate_and_delete_ask_for_confirmation_first(app, logged_in, confidential_client, what):
    """A GET only asks "are you sure"; nothing changes until the confirming POST."""
    before = client_row(app, confidential_client.client_id)

    page = logged_in.get(f"/console/clients/{confidential_client.client_id}/{what}")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "?</h1>" in text and 'method="post"' in text
    assert client_row(app, confidential_client.client_id) == before


# --- editing ------------------------------------------------------------------------------------


def test_editing_redirect_uris_takes_effect(app, logged_in, confidential_client):
    new_uri = "https://app.example.com/new-callback"

    response = edit(logged_in, confidential_client.client_id, redirect_uris=new_uri)

    assert response.status_code == 302
    assert client_row(app, confidential_client.client_id)["redirect_uris"] == [new_uri]
    # The removed URI now gets the error page, never a redirect to it (RFC 6749 §4.1.2.1).
    removed = logged_in.get(authorize_url(confidential_client))
    assert removed.status_code == 400
    assert "Location" not in removed.headers
    assert "Redirect address not allowed" in removed.get_data(as_text=True)
    # The new one works.
    moved = ClientInfo(
        confidential_client.id,
        confidential_client.client_id,
        confidential_client.secret,
        new_uri,
        confidential_client.scope,
    )
    code, _ = get_code(logged_in, moved)
    assert exchange_code(logged_in, moved, code).status_code == 200


def test_editing_scopes_takes_effect(app, logged_in, confidential_client):
    response = edit(logged_in, confidential_client.client_id, scopes=["openid", "profile"])

    assert response.status_code == 302
    assert client_row(app, confidential_client.client_id)["scope"] == "openid profile"
    refused = logged_in.get(authorize_url(confidential_client, scope="openid events:read"))
    assert_redirect_error(refused, confidential_client.redirect_uri, "invalid_scope")
    allowed = logged_in.get(authorize_url(confidential_client, scope="openid profile"))
    assert allowed.status_code == 200  # the consent page


def test_editing_with_an_invalid_redirect_uri_changes_nothing(app, logged_in, confidential_client):
    before = client_row(app, confidential_client.client_id)

    response = edit(
        logged_in,
        confidential_client.client_id,
        name="Renamed",
        redirect_uris="http://example.com/cb",
    )

    assert response.status_code == 400
    assert "must use https" in response.get_data(as_text=True)
    assert client_row(app, confidential_client.client_id) == before


# --- the operator's "verified" mark -------------------------------------------------------------


@pytest.fixture
def verified_client(app: Flask, confidential_client: ClientInfo) -> ClientInfo:
    """``authserver clients verify``: the operator vouches for the app as it is now."""
    with app.app_context():
        clients.verify_client(db.session.get(Client, confidential_client.id))
        db.session.commit()
    return confidential_client


def is_verified(app: Flask, client_id: str) -> bool:
    with app.app_context():
        return db.session.scalar(select(Client.verified).where(Client.client_id == client_id))


def changes_recorded(app: Flask, client_id: str) -> list[dict]:
    with app.app_context():
        return [
            dict(event.detail or {})
            for event in db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.event == "client.changed", AuditEvent.client_id == client_id)
                .order_by(AuditEvent.id)
            )
        ]


def test_the_edit_page_of_a_verified_app_says_what_removes_the_mark(logged_in, verified_client):
    page = logged_in.get(f"/console/clients/{verified_client.client_id}/edit")

    text = page_text(page)
    assert "This app is verified." in text
    assert "Changing its name or redirect URIs removes the mark" in text


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Google Drive"},
        {"redirect_uris": "https://drive.attacker.example/callback"},
        {"redirect_uris": f"{factories.REDIRECT_URI}\nhttps://drive.attacker.example/callback"},
    ],
    ids=["name", "redirect-uri-replaced", "redirect-uri-added"],
)
def test_a_new_name_or_redirect_uri_drops_the_verified_mark(
    app, logged_in, verified_client, change
):
    """The operator vouched for an app with a name and a place it sends people back to; a
    developer who changes either has another app, which nobody vouched for."""
    response = edit(logged_in, verified_client.client_id, **change)

    assert response.status_code == 302
    assert not is_verified(app, verified_client.client_id)
    assert changes_recorded(app, verified_client.client_id) == [{"verified_dropped": True}]
    show = page_text(logged_in.get(response.headers["Location"]))
    assert "Changes saved." in show
    assert "it is no longer verified" in show
    assert "Ask the operator of this server to verify it again." in show
    assert "No — the consent page tells people this app is not verified" in show
    new_redirect_uri = change.get("redirect_uris", factories.REDIRECT_URI).split()[-1]
    consent_page = logged_in.get(authorize_url(verified_client, redirect_uri=new_redirect_uri))
    assert consent_page.status_code == 200
    assert "Not verified" in consent_page.get_data(as_text=True)


@pytest.mark.parametrize(
    "change",
    [
        {},  # the form saved as it is
        {"scopes": ["openid", "profile"]},
        {"grant_types": ["authorization_code"]},
        {"post_logout_redirect_uris": "https://app.example.com/bye"},
        {"redirect_uris": f"{factories.REDIRECT_URI}\n{factories.REDIRECT_URI}"},  # same set
    ],
    ids=["nothing", "scopes", "grant-types", "post-logout-uris", "duplicate-uri"],
)
def test_other_changes_keep_the_verified_mark(app, logged_in, verified_client, change):
    response = edit(logged_in, verified_client.client_id, **change)

    assert response.status_code == 302
    assert is_verified(app, verified_client.client_id)
    assert changes_recorded(app, verified_client.client_id) == [{}]
    show = page_text(logged_in.get(response.headers["Location"]))
    assert "no longer verified" not in show
    assert "Yes — the operator vouches for this app" in show


def test_a_refused_edit_keeps_the_verified_mark(app, logged_in, verified_client):
    response = edit(
        logged_in, verified_client.client_id, name="Google Drive", redirect_uris="http://x.example"
    )

    assert response.status_code == 400
    assert is_verified(app, verified_client.client_id)
    assert client_row(app, verified_client.client_id)["name"] == "Example App"


# --- deleting -----------------------------------------------------------------------------------


def test_deleting_a_client_revokes_its_tokens(app, logged_in, confidential_client):
    code, _ = get_code(logged_in, confidential_client)
    tokens = exchange_code(logged_in, confidential_client, code).get_json()

    response = action(logged_in, confidential_client.client_id, "delete")

    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    assert "every token it held was revoked" in logged_in.get("/console/").get_data(as_text=True)
    assert client_row(app, confidential_client.client_id) is None
    assert_oauth_error(
        refresh(app.test_client(), confidential_client, tokens["refresh_token"]),
        "invalid_client",
        401,
    )
    with app.app_context():
        for model in (TokenFamily, RefreshToken, Consent):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model
    assert "Example App" not in logged_in.get("/account/apps").get_data(as_text=True)


# --- another developer's client -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("get", "/edit"),
        ("get", "/rotate-secret"),
        ("get", "/delete"),
        ("post", "/edit"),
        ("post", "/rotate-secret"),
        ("post", "/delete"),
    ],
)
def test_another_developers_client_is_not_found(app, logged_in, others_client, method, suffix):
    before = client_row(app, others_client.client_id)
    token = csrf_token(logged_in.get("/account/apps").data)
    url = f"/console/clients/{others_client.client_id}{suffix}"

    if method == "get":
        response = logged_in.get(url)
    else:
        response = logged_in.post(
            url,
            data={
                "csrf_token": token,
                "name": "Hijacked",
                "redirect_uris": "https://evil.example/cb",
                "scopes": ["openid"],
                "grant_types": ["authorization_code"],
            },
        )

    assert response.status_code == 404
    assert "Not Yours" not in response.get_data(as_text=True)
    assert client_row(app, others_client.client_id) == before


def test_console_lists_only_the_developers_own_clients(logged_in, others_client):
    page = logged_in.get("/console/").get_data(as_text=True)

    assert "Not Yours" not in page
    assert others_client.client_id not in page


# --- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/edit", "/rotate-secret", "/delete"])
def test_console_post_without_csrf_is_refused(app, logged_in, confidential_client, suffix):
    before = client_row(app, confidential_client.client_id)

    response = logged_in.post(
        f"/console/clients/{confidential_client.client_id}{suffix}",
        data={
            "name": "Changed",
            "redirect_uris": "https://app.example.com/other",
            "scopes": ["openid"],
            "grant_types": ["authorization_code"],
        },
    )

    assert response.status_code == 400
    assert client_row(app, confidential_client.client_id) == before


def test_registration_without_csrf_is_refused(app, logged_in):
    response = logged_in.post(
        NEW,
        data={
            "name": "Sneaky",
            "redirect_uris": "https://app.example.com/cb",
            "scopes": ["openid"],
            "grant_types": ["authorization_code"],
            "client_type": "confidential",
        },
    )

    assert response.status_code == 400
    assert client_count(app) == 0


def test_csrf_token_of_another_session_is_refused(app, logged_in, confidential_client):
    foreign_token = csrf_token(app.test_client().get("/login").data)

    response = logged_in.post(
        f"/console/clients/{confidential_client.client_id}/delete",
        data={"csrf_token": foreign_token},
    )

    assert response.status_code == 400
    assert client_row(app, confidential_client.client_id) is not None
