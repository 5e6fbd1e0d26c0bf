"""The API's reference as one readable HTML page, rendered on the server from the OpenAPI
document itself (no JavaScript, no CDN), so the page and ``/openapi.json`` cannot disagree."""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import Markup, escape

#: Served with the page; no inline style or script, so the page's CSP can forbid both.
STYLESHEET = """\
body { font-family: system-ui, sans-serif; line-height: 1.5; margin: 0 auto; max-width: 60rem;
       padding: 1rem 1.5rem 3rem; color: #1b1b1b; background: #fff; }
code, pre { font-family: ui-monospace, monospace; background: #f2f2f2; border-radius: 3px; }
code { padding: 0 .2em; }
pre { padding: .75rem; overflow-x: auto; }
section.operation { border-top: 1px solid #ccc; margin-top: 1.5rem; }
.method { display: inline-block; min-width: 4.5em; font-weight: bold; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
a { color: #0645ad; }
"""

_CODE = re.compile(r"`([^`]+)`")
_METHOD_ORDER = ("get", "post", "put", "patch", "delete")


def prose(text: str | None) -> Markup:
    """The documents' descriptions, escaped, with their `backticks` shown as code."""
    escaped = str(escape(text or ""))
    return Markup(_CODE.sub(r"<code>\1</code>", escaped))  # noqa: S704 - escaped just above


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation in path order (and GET, POST, ... within a path), ready for the page."""
    found = []
    for path, methods in document["paths"].items():
        for method in sorted(methods, key=_METHOD_ORDER.index):
            operation = methods[method]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            found.append(
                {
                    "id": operation["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description"),
                    "scopes": [s for entry in operation["security"] for s in entry.values()][0],
                    "parameters": operation.get("parameters", []),
                    "body": _schema_name(body["schema"]) if body else None,
                    "responses": sorted(operation["responses"].items()),
                }
            )
    return found


def schemas(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Each named schema with its JSON, for the page's reference section."""
    return [
        (name, json.dumps(schema, indent=2))
        for name, schema in document["components"]["schemas"].items()
    ]


def response_schema(response: dict[str, Any]) -> str | None:
    content = response.get("content", {}).get("application/json")
    return _schema_name(content["schema"]) if content else None


def _schema_name(schema: dict[str, Any]) -> str:
    return str(schema.get("$ref", "")).rsplit("/", 1)[-1]
