"""HTTP glue only: each route names its scope once, parses with ``events``, stores with
``store``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from . import docs_page, events, store
from .errors import ApiError
from .models import Event
from .openapi import build_openapi
from .profile import profile_json
from .protection import current_token, require_scope

bp = Blueprint("api", __name__)

EVENT_URL = "/api/events/<int:event_id>"


@bp.get("/api/me")
@require_scope("profile")
def me() -> Response:
    return jsonify(profile_json(current_token()))


@bp.get("/api/events")
@require_scope("events:read")
def list_events() -> Response:
    limit = events.parse_page_size(request.args.get("limit"))
    cursor = request.args.get("cursor")
    after = events.decode_cursor(cursor) if cursor is not None else None
    items, more = store.list_events(current_token().sub, limit=limit, after=after)
    return jsonify(
        {
            "items": [events.event_json(event) for event in items],
            "next_cursor": events.encode_cursor(items[-1]) if more else None,
        }
    )


@bp.post("/api/events")
@require_scope("events:write")
def create_event() -> tuple[Response, int, dict[str, str]]:
    values = events.parse_new_event(_json_body())
    event = store.create_event(current_token().sub, values, _now())
    location = url_for("api.get_event", event_id=event.id)
    return jsonify(events.event_json(event)), 201, {"Location": location}


@bp.get(EVENT_URL)
@require_scope("events:read")
def get_event(event_id: int) -> Response:
    return jsonify(events.event_json(_owned_event(event_id)))


@bp.patch(EVENT_URL)
@require_scope("events:write")
def update_event(event_id: int) -> Response:
    event = _owned_event(event_id)
    changes = events.parse_event_changes(_json_body(), event)
    return jsonify(events.event_json(store.update_event(event, changes, _now())))


@bp.delete(EVENT_URL)
@require_scope("events:write")
def delete_event(event_id: int) -> tuple[str, int]:
    store.delete_event(_owned_event(event_id))
    return "", 204


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_openapi(current_app, request.url_root))


#: The docs page loads nothing but its own stylesheet, and nothing may frame it.
DOCS_POLICY = (
    "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


@bp.get("/docs")
def docs() -> Response:
    document = build_openapi(current_app, request.url_root)
    page = render_template(
        "docs.html",
        document=document,
        operations=docs_page.operations(document),
        schemas=docs_page.schemas(document),
        prose=docs_page.prose,
        response_schema=docs_page.response_schema,
    )
    return Response(page, mimetype="text/html", headers=_page_headers())


@bp.get("/docs.css")
def docs_stylesheet() -> Response:
    return Response(docs_page.STYLESHEET, mimetype="text/css", headers=_page_headers())


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": DOCS_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _owned_event(event_id: int) -> Event:
    # Ids beyond the integer column's range are simply unknown, not a database error. (Not
    # werkzeug's int(max=...): past the max it answers 405 instead of 404 for PATCH/DELETE.)
    event = store.get_event(current_token().sub, event_id) if event_id <= events.MAX_ID else None
    if event is None:
        # Another user's event is answered exactly like a missing one: ids reveal nothing.
        raise ApiError("There is no event with this id.", status=404, error="not_found")
    return event


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(
            "The request body must be JSON (Content-Type: application/json).",
            status=415,
            error="unsupported_media_type",
        )
    data = request.get_data()  # raises 413 past MAX_CONTENT_LENGTH
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        # RecursionError: 64 KiB of "[" nests deeper than the parser's stack.
        raise ApiError("The request body is not valid JSON.") from error


def _now() -> datetime:
    return datetime.fromtimestamp(current_app.config["CLOCK"](), UTC)
