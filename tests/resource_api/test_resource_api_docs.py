"""What an integrator reads: the OpenAPI document names where the API is (``servers``), and
``/docs`` shows the same document as a page, without scripts or third-party hosts."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from resource_api.docs_page import prose

from .api_testing import AUDIENCE, ISSUER


def test_openapi_names_the_api_s_own_address_as_its_server(client):
    """Without ``servers`` a generated client calls "/" relative to wherever it found the file."""
    document = client.get("/openapi.json").get_json()
    assert document["servers"] == [{"url": AUDIENCE.rstrip("/")}]


def test_openapi_server_follows_the_request_when_the_audience_is_not_a_url(make_app):
    app = make_app(AUDIENCE="urn:example:calendar-api")
    document = (
        app.test_client().get("/openapi.json", base_url="https://api.example.test/").get_json()
    )
    assert document["servers"] == [{"url": "https://api.example.test"}]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))


def test_docs_page_lists_every_operation_with_its_scope_from_the_openapi(client):
    document = client.get("/openapi.json").get_json()
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            heading = re.search(
                rf'id="{operation["operationId"]}-heading"><span class="method">'
                rf"{method.upper()}</span> <code>{re.escape(path)}</code>",
                page,
            )
            assert heading, (method, path)
            scopes = operation["security"][0]["oauth2"]
            section = page[heading.end() : page.find("</section>", heading.end())]
            assert f"Scope: <code>{scopes[0]}</code>" in section
    assert f"<code>{ISSUER}/oauth/token</code>" in page
    assert f"<code>{AUDIENCE}</code>" in page  # the base URL


def test_docs_page_loads_nothing_from_elsewhere_and_runs_no_script(client):
    response = client.get("/docs")
    parser = _Page()
    parser.feed(response.get_data(as_text=True))
    assert not [tag for tag, _ in parser.tags if tag in ("script", "iframe", "img")]
    assert not [tag for tag, attrs in parser.tags if "style" in attrs]
    links = [attrs["href"] for tag, attrs in parser.tags if tag in ("a", "link")]
    assert all(href and (href.startswith(("#", "/"))) for href in links), links
    anchors = [href[1:] for href in links if href and href.startswith("#")]
    assert set(anchors) <= set(parser.ids)  # every in-page link lands somewhere
    assert len(parser.ids) == len(set(parser.ids))
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # none allowed: default-src 'none' covers it
    stylesheet = client.get("/docs.css")
    assert stylesheet.status_code == 200 and stylesheet.mimetype == "text/css"


def test_docs_page_prose_escapes_markup_and_shows_backticks_as_code():
    """Descriptions are text: markup in them is shown, never interpreted."""
    shown = str(prose("Send `<b>` & <script>x</script>"))
    assert shown == "Send <code>&lt;b&gt;</code> &amp; &lt;script&gt;x&lt;/script&gt;"


def test_docs_page_shows_a_non_url_audience_s_request_address_escaped(make_app):
    app = make_app(AUDIENCE="urn:calendar")
    page = app.test_client().get("/docs", base_url="http://api.test/a<b>/").get_data(as_text=True)
    assert "a<b>" not in page


def test_docs_page_needs_no_token_and_unknown_methods_are_refused(client):
    assert client.get("/docs").status_code == 200
    refused = client.post("/docs")
    assert refused.status_code == 405
    assert refused.get_json()["error"] == "method_not_allowed"
