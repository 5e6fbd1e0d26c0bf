"""The JWKS and the metadata answered from the last answer Flask made for them
(``views/public_documents.py``): the same bytes, and never staler than the caches they came from."""

from __future__ import annotations

import pytest

from authserver.extensions import db
from authserver.services import keys
from authserver.views import public_documents

PATHS = sorted(public_documents.PATHS)
#: What differs between any two answers, memoised or not.
PER_REQUEST = {"x-request-id", "date"}


def _stable(response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in PER_REQUEST]
    return response.status_code, headers, response.get_data()


@pytest.fixture
def flask_calls(app, monkeypatch) -> list[str]:
    """The paths Flask itself answered (the memo answers the others)."""
    calls: list[str] = []
    middleware = app.wsgi_app
    while not isinstance(middleware, public_documents.PublicDocuments):
        middleware = middleware.app  # inside the request log (and ProxyFix)
    inner = middleware.wsgi_app

    def counted(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(middleware, "wsgi_app", counted)
    return calls


@pytest.mark.parametrize("path", PATHS)
def test_a_memoised_answer_is_the_answer_flask_gave(app, fake_clock, flask_calls, path):
    http = app.test_client()
    http.get("/oauth/jwks")  # the caches' versions are read: the memo may be kept
    first = http.get(path)
    again = http.get(path)
    assert first.status_code == 200
    assert _stable(again) == _stable(first)
    assert again.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-ID" in again.headers  # the request log still wraps it
    assert flask_calls.count(path) == 1


def test_a_key_rotated_in_this_process_is_published_at_once(app, fake_clock, flask_calls):
    http = app.test_client()
    before = http.get("/oauth/jwks").get_json()
    http.get("/oauth/jwks")
    with app.app_context():
        keys.rotate_keys()
        db.session.commit()
    after = http.get("/oauth/jwks").get_json()
    assert len(after["keys"]) == len(before["keys"]) + 1


def test_the_memo_lives_no_longer_than_the_cache_check_interval(app, fake_clock, flask_calls):
    http = app.test_client()
    http.get("/oauth/jwks")
    http.get("/oauth/jwks")
    assert flask_calls == ["/oauth/jwks"]
    fake_clock.advance(app.config["CACHE_CHECK_INTERVAL"])
    http.get("/oauth/jwks")
    assert flask_calls == ["/oauth/jwks", "/oauth/jwks"]


def test_conditional_requests_and_other_methods_reach_flask(app, fake_clock, flask_calls):
    http = app.test_client()
    etag = http.get("/oauth/jwks").headers["ETag"]
    assert http.get("/oauth/jwks", headers={"If-None-Match": etag}).status_code == 304
    assert http.head("/oauth/jwks").status_code == 200
    assert http.get("/oauth/jwks?x=1").status_code == 200
    assert flask_calls == ["/oauth/jwks"] * 4


@pytest.mark.parametrize("app_config", [{"CACHE_CHECK_INTERVAL": 0}])
def test_nothing_is_memoised_when_every_request_checks_the_caches(app, flask_calls):
    http = app.test_client()
    for _ in range(3):
        assert http.get("/oauth/jwks").status_code == 200
    assert flask_calls == ["/oauth/jwks"] * 3
