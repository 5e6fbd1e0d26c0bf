"""Every server-rendered page: well-formed enough for a browser and a screen reader, protected
against framing, and every form that changes something carries its CSRF token."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests import factories
from tests.helpers import authorize_url, csrf_token, get_code, login

#: Inputs a user never types into or ticks, which need no label.
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


@dataclass
class Form:
    method: str
    action: str | None
    inputs: list[dict[str, str]] = field(default_factory=list)


class Page(HTMLParser):
    """What the checks need from one HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.html_attrs: list[dict[str, str]] = []
        self.titles: list[str] = []
        self.h1_count = 0
        self.ids: list[str] = []
        self.label_fors: set[str] = set()
        self.controls: list[tuple[str, dict[str, str]]] = []
        self.forms: list[Form] = []
        self._in_title = False
        self._form: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "html":
            self.html_attrs.append(a)
        elif tag == "title":
            self._in_title = True
            self.titles.append("")
        elif tag == "h1":
            self.h1_count += 1
        elif tag == "label" and "for" in a:
            self.label_fors.add(a["for"])
        elif tag == "form":
            self._form = Form(a.get("method", "get").lower(), a.get("action"))
            self.forms.append(self._form)
        elif tag in ("input", "textarea", "select"):
            self.controls.append((tag, a))
            if self._form is not None:
                self._form.inputs.append({"tag": tag, **a})

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles[-1] += data


def parse(response: TestResponse) -> Page:
    page = Page()
    page.feed(response.get_data(as_text=True))
    page.close()
    return page


# --- how to reach each page ---------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    app: Flask
    browser: FlaskClient
    user: factories.UserInfo
    app_client: factories.ClientInfo


def _login_page(s: Setup) -> TestResponse:
    return s.browser.get("/login")


def _login_failed(s: Setup) -> TestResponse:
    return login(s.browser, s.user.email, "wrong password, surely")


def _signup_page(s: Setup) -> TestResponse:
    return s.browser.get("/signup")


def _signup_with_errors(s: Setup) -> TestResponse:
    page = s.browser.get("/signup")
    return s.browser.post(
        "/signup",
        data={
            "email": "nope",
            "password": "short",
            "name": "",
            "csrf_token": csrf_token(page.data),
        },
    )


def _logged_in(s: Setup) -> FlaskClient:
    assert login(s.browser, s.user.email, s.user.password).status_code == 302
    return s.browser


def _consent(s: Setup) -> TestResponse:
    return _logged_in(s).get(authorize_url(s.app_client, scope="openid profile events:read"))


def _console_index(s: Setup) -> TestResponse:
    return _logged_in(s).get("/console/")


def _console_new(s: Setup) -> TestResponse:
    return _logged_in(s).get("/console/clients/new")


def _console_new_with_errors(s: Setup) -> TestResponse:
    browser = _logged_in(s)
    page = browser.get("/console/clients/new")
    return browser.post(
        "/console/clients/new",
        data={
            "name": "",
            "redirect_uris": "http://example.com/cb",
            "csrf_token": csrf_token(page.data),
        },
    )


def _console_show(s: Setup) -> TestResponse:
    return _logged_in(s).get(f"/console/clients/{s.app_client.client_id}")


def _console_edit(s: Setup) -> TestResponse:
    return _logged_in(s).get(f"/console/clients/{s.app_client.client_id}/edit")


def _console_confirm_rotate(s: Setup) -> TestResponse:
    return _logged_in(s).get(f"/console/clients/{s.app_client.client_id}/rotate-secret")


def _console_confirm_delete(s: Setup) -> TestResponse:
    return _logged_in(s).get(f"/console/clients/{s.app_client.client_id}/delete")


def _home(s: Setup) -> TestResponse:
    return s.browser.get("/")


def _home_logged_in(s: Setup) -> TestResponse:
    return _logged_in(s).get("/")


def _consent_incremental(s: Setup) -> TestResponse:
    browser = _logged_in(s)
    get_code(browser, s.app_client, scope="openid profile")
    return browser.get(authorize_url(s.app_client, scope="openid profile events:read"))


def _console_created(s: Setup) -> TestResponse:
    browser = _logged_in(s)
    page = browser.get(f"/console/clients/{s.app_client.client_id}/rotate-secret")
    return browser.post(
        f"/console/clients/{s.app_client.client_id}/rotate-secret",
        data={"csrf_token": csrf_token(page.data)},
    )


def _connected_apps(s: Setup) -> TestResponse:
    browser = _logged_in(s)
    get_code(browser, s.app_client)
    with s.app.app_context():
        second = factories.make_client(name="Second App")
    get_code(browser, second)
    return browser.get("/account/apps")


def _connected_apps_empty(s: Setup) -> TestResponse:
    return _logged_in(s).get("/account/apps")


def _authorize_error(s: Setup) -> TestResponse:
    return s.browser.get(authorize_url(s.app_client, client_id="no-such-client"))


def _authorize_bad_redirect(s: Setup) -> TestResponse:
    return _logged_in(s).get(authorize_url(s.app_client, redirect_uri="https://evil.example/cb"))


def _not_found(s: Setup) -> TestResponse:
    return _logged_in(s).get("/console/clients/no-such-client")


def _csrf_failure(s: Setup) -> TestResponse:
    return s.browser.post("/login", data={"email": "a@example.com", "password": "x"})


PAGES: dict[str, tuple[Callable[[Setup], TestResponse], int]] = {
    "home": (_home, 200),
    "home, logged in": (_home_logged_in, 200),
    "consent, incremental": (_consent_incremental, 200),
    "console confirm rotation": (_console_confirm_rotate, 200),
    "console confirm deletion": (_console_confirm_delete, 200),
    "login": (_login_page, 200),
    "login failed": (_login_failed, 400),
    "signup": (_signup_page, 200),
    "signup with errors": (_signup_with_errors, 400),
    "consent": (_consent, 200),
    "console index": (_console_index, 200),
    "console new": (_console_new, 200),
    "console new with errors": (_console_new_with_errors, 400),
    "console show": (_console_show, 200),
    "console edit": (_console_edit, 200),
    "console credentials": (_console_created, 200),
    "connected apps": (_connected_apps, 200),
    "connected apps, none": (_connected_apps_empty, 200),
    "authorize error, unknown client": (_authorize_error, 400),
    "authorize error, unregistered redirect": (_authorize_bad_redirect, 400),
    "not found": (_not_found, 404),
    "csrf failure": (_csrf_failure, 400),
}


@pytest.fixture(params=list(PAGES), ids=list(PAGES))
def page_response(request, app, client, user, confidential_client) -> TestResponse:
    make, status = PAGES[request.param]
    response = make(Setup(app, client, user, confidential_client))
    assert response.status_code == status, (request.param, response.status_code, response.data)
    assert response.mimetype == "text/html"
    return response


# --- the checks ---------------------------------------------------------------------------------


def test_page_declares_its_language_and_has_a_title(page_response):
    """WCAG 2.2 SC 3.1.1 (language of page) and SC 2.4.2 (page titled)."""
    body = page_response.get_data(as_text=True)
    page = parse(page_response)

    assert body.lstrip().lower().startswith("<!doctype html>")
    assert len(page.html_attrs) == 1
    assert page.html_attrs[0].get("lang"), page.html_attrs
    assert len(page.titles) == 1
    title = page.titles[0].strip()
    assert title and not title.startswith("·"), title


def test_page_has_exactly_one_h1(page_response):
    assert parse(page_response).h1_count == 1


def test_every_form_control_has_a_label(page_response):
    """WCAG 2.2 SC 1.3.1 / 4.1.2: a control a user fills in is named by a ``<label for>``."""
    page = parse(page_response)

    unlabelled = [
        (tag, attrs)
        for tag, attrs in page.controls
        if not (tag == "input" and attrs.get("type", "text") in UNLABELLED_INPUT_TYPES)
        and (not attrs.get("id") or attrs["id"] not in page.label_fors)
    ]
    assert unlabelled == []


def test_every_post_form_carries_a_csrf_token(page_response):
    page = parse(page_response)

    for form in page.forms:
        assert form.method in ("get", "post"), form
        if form.method != "post":
            continue
        tokens = [
            i
            for i in form.inputs
            if i.get("name") == "csrf_token" and i.get("type") == "hidden" and i.get("value")
        ]
        assert len(tokens) == 1, form


def test_element_ids_are_unique(page_response):
    """HTML Living Standard §3.2.6.1: an id must be unique in the document (``<label for>`` and
    ``aria-describedby`` point at the first one only)."""
    duplicates = [i for i, n in Counter(parse(page_response).ids).items() if n > 1]

    assert duplicates == []


def test_html_page_cannot_be_framed(page_response):
    """RFC 9700 §4.16: no clickjacking of the consent page, nor of any other page."""
    assert page_response.headers["X-Frame-Options"] == "DENY"
    csp = page_response.headers["Content-Security-Policy"]
    directives = {d.strip().split()[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"


def test_html_page_is_not_cached(page_response):
    """Pages show personal data, CSRF tokens and once-only secrets: never stored by caches."""
    assert "no-store" in page_response.headers["Cache-Control"]


# --- a few page-specific promises ---------------------------------------------------------------


def test_consent_page_keeps_openid_ticked_and_disabled(app, logged_in, confidential_client):
    """SPEC: one checkbox ``scope`` per requested scope; ``openid`` checked and disabled."""
    response = logged_in.get(authorize_url(confidential_client, scope="openid profile events:read"))
    page = parse(response)

    boxes = [a for tag, a in page.controls if a.get("type") == "checkbox"]
    assert len(boxes) == 3
    named = {a["value"]: a for a in boxes if a.get("name") == "scope"}
    assert set(named) == {"profile", "events:read"}
    assert all("checked" in a for a in named.values())
    disabled = [a for a in boxes if "disabled" in a]
    assert len(disabled) == 1 and "checked" in disabled[0]
    hidden = [
        a for tag, a in page.controls if a.get("type") == "hidden" and a.get("name") == "scope"
    ]
    assert [a["value"] for a in hidden] == ["openid"]
    buttons = re.findall(r'<button type="submit" name="decision" value="(\w+)"', response.text)
    assert buttons == ["allow", "deny"]


def test_login_and_signup_forms_have_the_spec_fields(client):
    """SPEC: login has ``email`` and ``password``; signup has ``email``, ``password``, ``name``."""
    for path, expected in (
        ("/login", {"email", "password"}),
        ("/signup", {"email", "password", "name"}),
    ):
        page = parse(client.get(path))
        (form,) = [f for f in page.forms if f.method == "post"]
        names = {i["name"] for i in form.inputs if i.get("type") != "hidden"}
        assert names == expected, path
        types = {i["name"]: i.get("type") for i in form.inputs}
        assert types["password"] == "password"
        assert types["email"] == "email"
