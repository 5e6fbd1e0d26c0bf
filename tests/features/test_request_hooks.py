"""Request hooks only where they apply: every form still checks CSRF, while the public documents
and probes run none of the extensions' hooks (``views.register_views``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from authserver.extensions import db
from tests.conftest import _make_app
from tests.helpers import csrf_token

#: Machine endpoints: authenticated by their own credentials, never by a browser's cookie.
CSRF_EXEMPT = {
    "oauth2.token",
    "oauth2.revoke",
    "oauth2.introspect",
    "oauth2.device_authorization",
    "oauth2.pushed_authorization_request",
    "oauth2.register",
    "oauth2.client_configuration",
    "oidc.userinfo",
    "auth.end_session",  # RP-initiated logout: its confirmation form is checked in the view
}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
#: The extensions whose hooks used to run on every request.
EXTENSIONS = ("flask_wtf", "flask_login", "flask_limiter")


def form_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, path, method) of every route a browser may post to, from the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in CSRF_EXEMPT:
            continue
        try:
            path = rule.build({name: "some-id" for name in rule.arguments})[1]
        except ValueError:  # a number in the path (a passkey's id)
            path = rule.build({name: 1 for name in rule.arguments})[1]
        routes += [(rule.endpoint, path, m) for m in UNSAFE if m in rule.methods]
    return routes


def test_every_route_a_browser_posts_to_refuses_a_request_without_its_csrf_token(
    app: Flask, logged_in: FlaskClient
) -> None:
    routes = form_routes(app)
    assert {endpoint for endpoint, _, _ in routes} >= {
        "auth.login",
        "auth.signup",
        "auth.logout",
        "authorize.authorize",
        "console.new_client",
        "console.delete_client",
        "account.revoke",
    }
    for endpoint, path, method in routes:
        if endpoint == "authorize.authorize":
            # The consent form posts back to the request's own URL, query and all; a POST with
            # no query is an authorization request sent by POST (OIDC Core §3.1.2.1), answered
            # as its GET (tests/spec/oidc_core/test_authentication_request.py).
            path += "?client_id=x&response_type=code"
        response = logged_in.open(path, method=method, data={"email": "a@b.example"})
        assert response.status_code == 400, (endpoint, response.status_code)
        assert b"This form has expired" in response.data, endpoint


def test_a_logged_out_visitor_meets_the_csrf_check_before_the_login_page(
    client: FlaskClient,
) -> None:
    response = client.post("/console/clients/new", data={"name": "x"})
    assert response.status_code == 400
    assert b"This form has expired" in response.data


@pytest.fixture
def hooks_run(app: Flask) -> list[str]:
    """The module of every request hook the app runs from now on, in order."""
    ran: list[str] = []

    def recorded(hook: Callable) -> Callable:
        def run(*args, **kwargs):
            ran.append(getattr(hook, "__module__", "") or "")
            return hook(*args, **kwargs)

        return run

    for registry in (app.before_request_funcs, app.after_request_funcs):
        for hooks in registry.values():
            hooks[:] = [recorded(hook) for hook in hooks]
    for hooks in app.teardown_request_funcs.values():
        hooks[:] = [recorded(hook) for hook in hooks]
    return ran


@pytest.mark.parametrize(
    "path",
    ["/oauth/jwks", "/.well-known/openid-configuration", "/healthz", "/readyz"],
)
def test_public_documents_and_probes_run_no_extension_hooks(
    app: Flask, client: FlaskClient, hooks_run: list[str], path: str
) -> None:
    client.get(path)  # warm: the first JWKS request builds the document
    hooks_run.clear()
    assert client.get(path).status_code == 200
    assert [m for m in hooks_run if m.startswith(EXTENSIONS)] == []


@pytest.mark.parametrize("app_config", [{"RATELIMIT_DEFAULT": "2 per minute"}])
def test_default_limits_an_operator_configures_still_apply_everywhere(client: FlaskClient) -> None:
    """Flask-Limiter's before-request check (for default and application-wide limits) is kept
    when such limits are configured."""
    assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 429]


def test_an_earlier_apps_default_limits_do_not_carry_over(test_database, tmp_path) -> None:
    """One Limiter serves every app a process makes: the next app without such limits has
    none (they once leaked into the next test file of the same worker, whose throttled form
    then answered 429 "2 per 1 minute")."""

    def wrong_logins(app: Flask) -> list[int]:
        browser = app.test_client()
        statuses = []
        for _ in range(3):
            page = browser.get("/login")
            statuses.append(page.status_code)
            if page.status_code == 200:
                form = {
                    "csrf_token": csrf_token(page.data),
                    "email": "a@x.example",
                    "password": "x",
                }
                statuses.append(browser.post("/login", data=form).status_code)
        return statuses

    first = _make_app(test_database, tmp_path / "first", RATELIMIT_DEFAULT="2 per minute")
    assert 429 in wrong_logins(first)
    second = _make_app(test_database, tmp_path / "second")
    assert 429 not in wrong_logins(second)
    for made in (first, second):
        with made.app_context():
            db.engine.dispose()
