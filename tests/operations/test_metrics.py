"""Prometheus metrics in one process (the fallback outside gunicorn): what is counted, how labels
stay bounded, and that nothing is wrapped while ``METRICS_ADDRESS`` is unset.

Counters live once per process (every app of a service shares them), so each test compares
values before and after. ``tests/end_to_end/test_metrics_served.py`` runs both services under
gunicorn with several workers.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

import servicemetrics
from authserver import create_app, gunicorn_settings, scheduled
from authserver.extensions import db
from authserver.services import outbox
from configrules import SettingError
from servicemetrics.gunicorn import GunicornHooks
from servicemetrics.instruments import RequestMetrics, bounded, for_service
from tests import factories
from tests.helpers import basic_auth, client_credentials_token, login, refresh, user_tokens
from tests.mail_server import smtp_server
from tests.processes import free_port


@pytest.fixture(scope="module")
def metrics_address() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def app_config(metrics_address: str, request: pytest.FixtureRequest) -> dict:
    """Metrics on; ``parametrize("app_config", [{...}], indirect=True)`` adds or overrides."""
    return {"METRICS_ADDRESS": metrics_address, **getattr(request, "param", {})}


def value(name: str, **labels: str) -> float:
    """The authorization server's sample in this process (0 when never counted)."""
    registry = for_service("authserver").registry
    return registry.get_sample_value(name, labels) or 0.0


def requests_counted(endpoint: str, status: str, method: str = "GET") -> float:
    return value("authserver_http_requests_total", endpoint=endpoint, method=method, status=status)


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (None, None),
        ("", None),
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        ("[::1]:9100", ("::1", 9100)),
        ("metrics.internal:9100", ("metrics.internal", 9100)),
    ],
)
def test_an_address_is_host_and_port(raw, parsed):
    assert servicemetrics.parse_address(raw, "X_METRICS_ADDRESS") == parsed


@pytest.mark.parametrize("raw", [9100, "9100", ":9100", "127.0.0.1", "127.0.0.1:0", "h:99999"])
def test_anything_else_is_refused_naming_the_setting(raw):
    with pytest.raises(servicemetrics.MetricsConfigError, match="X_METRICS_ADDRESS"):
        servicemetrics.parse_address(raw, "X_METRICS_ADDRESS")


def test_a_bad_address_stops_the_app_from_starting(test_database, tmp_path):
    with pytest.raises(SettingError, match="AUTHSERVER_METRICS_ADDRESS must be host:port"):
        create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path),
                "DATABASE_URL": test_database.url,
                "SECRET_KEY": "k" * 40,
                "METRICS_ADDRESS": "9100",
            }
        )


@pytest.mark.parametrize("app_config", [{"METRICS_ADDRESS": None}], indirect=True)
def test_off_by_default_nothing_wraps_the_app(app):
    assert app.config["METRICS_ADDRESS"] is None
    layer, seen = app.wsgi_app, []
    while layer is not None and len(seen) < 10:
        seen.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    assert "RequestMetrics" not in seen, seen


def test_on_the_app_is_wrapped(app):
    assert isinstance(app.wsgi_app, RequestMetrics)


# -- bounded labels ---------------------------------------------------------------------------


def test_an_unknown_path_is_counted_as_unmatched_never_by_its_path(app):
    before = requests_counted("unmatched", "404")
    assert app.test_client().get("/no/such/place-4f1c2b").status_code == 404
    assert requests_counted("unmatched", "404") == before + 1
    text = for_service("authserver").render().decode()
    assert "place-4f1c2b" not in text


def test_a_route_with_a_variable_is_counted_by_its_rule(app):
    rule = "/oauth/register/<client_id>"
    before = requests_counted(rule, "404")
    # Registration is off: 404, but the URL rule matched.
    assert app.test_client().get("/oauth/register/some-client-id-77").status_code == 404
    assert requests_counted(rule, "404") == before + 1
    assert "some-client-id-77" not in for_service("authserver").render().decode()


def test_a_made_up_method_is_other_and_a_wrong_method_unmatched(app):
    before_other = requests_counted("unmatched", "405", method="other")
    before_put = requests_counted("unmatched", "405", method="PUT")
    http = app.test_client()
    assert http.open("/oauth/token", method="BREW").status_code == 405
    assert http.put("/oauth/token").status_code == 405
    assert requests_counted("unmatched", "405", method="other") == before_other + 1
    assert requests_counted("unmatched", "405", method="PUT") == before_put + 1


@pytest.mark.parametrize(
    ("noted", "label"),
    [
        (None, "none"),
        ("client_credentials", "client_credentials"),
        ("invalid_client", "invalid_client"),
        (
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:device_code",
        ),
        ("x" * 65, "other"),
        ("a b", "other"),
        ("<script>", "other"),
    ],
)
def test_noted_values_become_labels_only_when_they_look_like_codes(noted, label):
    assert bounded(noted) == label


def test_latency_is_observed_per_endpoint(app):
    name = "authserver_http_request_duration_seconds_count"
    before = value(name, endpoint="/healthz")
    app.test_client().get("/healthz")
    assert value(name, endpoint="/healthz") == before + 1


# -- what the authorization server counts -----------------------------------------------------


def test_tokens_issued_and_failed_client_authentication(app):
    with app.app_context():
        service = factories.make_service_client()
    http = app.test_client()
    name = "authserver_token_requests_total"
    issued = value(name, grant_type="client_credentials", outcome="ok")
    refused = value(name, grant_type="client_credentials", outcome="invalid_client")
    failures = {
        path: value("authserver_client_authentication_failures_total", endpoint=path)
        for path in ("/oauth/token", "/oauth/introspect", "/oauth/revoke")
    }

    client_credentials_token(http, service)
    wrong = basic_auth(service.client_id, "not-the-secret")
    data = {"grant_type": "client_credentials"}
    assert http.post("/oauth/token", data=data, headers=wrong).status_code == 401
    assert http.post("/oauth/introspect", data={"token": "x"}, headers=wrong).status_code == 401
    assert http.post("/oauth/revoke", data={"token": "x"}, headers=wrong).status_code == 401

    assert value(name, grant_type="client_credentials", outcome="ok") == issued + 1
    assert value(name, grant_type="client_credentials", outcome="invalid_client") == refused + 1
    for path, before in failures.items():
        assert value("authserver_client_authentication_failures_total", endpoint=path) == (
            before + 1
        ), path


def test_an_unknown_grant_type_is_counted_without_its_value(app):
    name = "authserver_token_requests_total"
    before = value(name, grant_type="none", outcome="unsupported_grant_type")
    with app.app_context():
        service = factories.make_service_client()
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "made-up-grant-9z"},
        headers=basic_auth(service.client_id, service.secret),
    )
    assert response.status_code == 400
    assert value(name, grant_type="none", outcome="unsupported_grant_type") == before + 1
    assert "made-up-grant-9z" not in for_service("authserver").render().decode()


def test_failed_logins_are_counted_and_good_ones_are_not(app, user):
    http = app.test_client()
    before = value("authserver_login_failures_total")
    login(http, user.email, "wrong password, clearly")
    assert value("authserver_login_failures_total") == before + 1
    login(http, user.email, user.password)
    assert value("authserver_login_failures_total") == before + 1


@pytest.mark.parametrize(
    "app_config", [{"LOGIN_FAILURES_PER_ADDRESS": "1 per hour"}], indirect=True
)
def test_throttled_requests_are_counted(app, user):
    before = value("authserver_throttled_requests_total", endpoint="/login")
    http = app.test_client()
    login(http, user.email, "wrong once")
    response = login(http, user.email, "wrong twice")
    assert response.status_code == 429
    assert value("authserver_throttled_requests_total", endpoint="/login") == before + 1


def test_a_replayed_refresh_token_is_counted(app, logged_in, confidential_client, fake_clock):
    name = "authserver_reuse_detected_total"
    before = value(name, credential="refresh_token")
    first = user_tokens(logged_in, confidential_client)
    assert refresh(logged_in, confidential_client, first["refresh_token"]).status_code == 200
    assert value(name, credential="refresh_token") == before
    fake_clock.advance(11)  # past the retry window
    assert refresh(logged_in, confidential_client, first["refresh_token"]).status_code == 400
    assert value(name, credential="refresh_token") == before + 1


def test_outbox_outcomes_and_the_queue_are_counted(app, fake_clock):
    sent = value("authserver_outbox_messages_total", kind="mail", outcome="sent")
    failed = value("authserver_outbox_messages_total", kind="mail", outcome="failed")
    with app.app_context():
        outbox.queue_mail("a@example.com", "account_deleted")
        outbox.queue_mail("b@example.com", "account_deleted")
        db.session.commit()
    scheduled.deliver_outbox(app)  # SMTP_URL points where nobody listens (tests/conftest.py)
    assert value("authserver_outbox_messages_total", kind="mail", outcome="failed") == failed + 2
    assert value("authserver_outbox_queued_messages") == 2
    with smtp_server() as (url, inbox):
        app.config["SMTP_URL"] = url
        fake_clock.advance(60)  # past the first backoff
        scheduled.deliver_outbox(app)
    assert len(inbox.messages) == 2
    assert value("authserver_outbox_messages_total", kind="mail", outcome="sent") == sent + 2
    assert value("authserver_outbox_queued_messages") == 0


def test_the_pool_gauge_comes_back_to_where_it_was(app):
    name = "authserver_db_pool_checked_out_connections"
    before = value(name)
    assert app.test_client().get("/readyz").status_code == 200
    assert value(name) == before
    assert value("authserver_db_pool_size") > 0


# -- served on its own address ----------------------------------------------------------------


def test_the_process_serves_its_metrics_on_the_address_not_the_public_app(app, metrics_address):
    http = app.test_client()
    assert http.get("/healthz").status_code == 200  # the first request starts the server
    assert http.get("/metrics").status_code == 404
    text = requests.get(f"http://{metrics_address}/metrics", timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = families["authserver_http_requests"].samples
    healthz = [s for s in samples if s.labels.get("endpoint") == "/healthz"]
    assert healthz and sum(s.value for s in healthz) >= 1


# -- gunicorn hooks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "prefix"),
    [
        ("authserver:create_app()", "AUTHSERVER"),
        ("resource_api:create_app()", "RESOURCE_API"),
        ("wsgi:auth_app", "AUTHSERVER"),
        ("wsgi:api_app", "RESOURCE_API"),
        ("bench.baseline:create_app()", None),
    ],
)
def test_the_master_knows_its_service_by_its_app(uri, prefix):
    hooks = gunicorn_settings._metrics
    assert isinstance(hooks, GunicornHooks)
    server = SimpleNamespace(app=SimpleNamespace(app_uri=uri), cfg=SimpleNamespace(wsgi_app=None))
    assert hooks.prefix(server) == prefix


def test_without_its_address_the_master_does_nothing(monkeypatch):
    monkeypatch.delenv("AUTHSERVER_METRICS_ADDRESS", raising=False)
    monkeypatch.setenv("RESOURCE_API_METRICS_ADDRESS", "127.0.0.1:9")  # the other service's
    hooks = GunicornHooks({"authserver": "AUTHSERVER", "resource_api": "RESOURCE_API"})
    server = SimpleNamespace(
        app=SimpleNamespace(app_uri="authserver:create_app()"), cfg=SimpleNamespace(wsgi_app=None)
    )
    hooks.on_starting(server)
    hooks.when_ready(server)
    assert hooks.directory is None and hooks.httpd is None
