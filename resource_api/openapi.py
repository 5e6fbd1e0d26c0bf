"""The OpenAPI 3.1 description of the API, built from the routes themselves.

Paths, methods and each operation's scope come from the URL map and the ``@require_scope``
decorators, so the document cannot promise a scope the code does not enforce; the prose and
schemas for each operation are in ``_OPERATIONS``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from .events import DEFAULT_PAGE_SIZE, DESCRIPTION_MAX_LENGTH, MAX_PAGE_SIZE
from .models import TITLE_MAX_LENGTH

#: The scopes this API understands, worded as the authorization server's consent page does.
SCOPES = {
    "profile": "See your name and basic profile",
    "email": "See your email address",
    "events:read": "See your calendar events",
    "events:write": "Create, change and delete your calendar events",
}
SECURITY_SCHEME = "oauth2"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_EVENT_ID = {
    "name": "event_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

_OPERATIONS: dict[str, dict[str, Any]] = {
    "api.me": {
        "summary": "The user the access token speaks for",
        "description": "`email` appears only when the token also has the `email` scope.",
        "responses": {"200": _json("The user's profile.", "Profile")},
    },
    "api.list_events": {
        "summary": "List your events, earliest first",
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "default": DEFAULT_PAGE_SIZE,
                    "description": f"Values above {MAX_PAGE_SIZE} are served as {MAX_PAGE_SIZE}.",
                },
            },
            {
                "name": "cursor",
                "in": "query",
                "description": "The `next_cursor` of the previous page.",
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": _json("One page of events, ordered by starts_at then id.", "EventPage"),
            "400": _error("Bad `limit` or `cursor`, or `invalid_request`."),
        },
    },
    "api.create_event": {
        "summary": "Create an event",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("NewEvent")}},
        },
        "responses": {
            "201": {
                **_json("The created event.", "Event"),
                "headers": {
                    "Location": {
                        "description": "The event's URL.",
                        "schema": {"type": "string", "format": "uri-reference"},
                    }
                },
            },
            "400": _json("The body is not valid JSON or breaks a rule.", "ValidationError"),
            "413": _error("The body is larger than the API accepts."),
            "415": _error("The body is not `application/json`."),
        },
    },
    "api.get_event": {
        "summary": "One of your events",
        "parameters": [_EVENT_ID],
        "responses": {
            "200": _json("The event.", "Event"),
            "404": _error("No event of yours has this id."),
        },
    },
    "api.update_event": {
        "summary": "Change some fields of an event",
        "parameters": [_EVENT_ID],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("EventChanges")}},
        },
        "responses": {
            "200": _json("The changed event.", "Event"),
            "400": _json("The body is not valid JSON or breaks a rule.", "ValidationError"),
            "404": _error("No event of yours has this id."),
            "413": _error("The body is larger than the API accepts."),
            "415": _error("The body is not `application/json`."),
        },
    },
    "api.delete_event": {
        "summary": "Delete an event",
        "parameters": [_EVENT_ID],
        "responses": {
            "204": {"description": "Deleted."},
            "404": _error("No event of yours has this id."),
        },
    },
}

# What every protected operation may answer (RFC 6750 §3, plus an unreachable issuer).
_PROTECTED_RESPONSES = {
    "400": _error("`invalid_request`: the token was sent in more than one way, or malformed."),
    "401": _error(
        "No token (bare `WWW-Authenticate: Bearer`), `invalid_token`, or a DPoP-bound token's "
        "proof refused (`invalid_dpop_proof`)."
    ),
    "403": _error("`insufficient_scope`: the token lacks the operation's scope."),
    "503": _error("The authorization server could not be reached to check the token."),
}

_TIME = {"type": "string", "format": "date-time"}
_TIME_IN = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 with a time zone; stored and returned in UTC.",
}
_TITLE = {"type": "string", "minLength": 1, "maxLength": TITLE_MAX_LENGTH}
_DESCRIPTION = {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX_LENGTH}

_SCHEMAS: dict[str, Any] = {
    "Event": {
        "type": "object",
        "required": [
            "id",
            "title",
            "description",
            "starts_at",
            "ends_at",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "title": _TITLE,
            "description": _DESCRIPTION,
            "starts_at": _TIME,
            "ends_at": _TIME,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "NewEvent": {
        "type": "object",
        "description": "`ends_at` must be after `starts_at`.",
        "required": ["title", "starts_at", "ends_at"],
        "additionalProperties": False,
        "properties": {
            "title": _TITLE,
            "description": _DESCRIPTION,
            "starts_at": _TIME_IN,
            "ends_at": _TIME_IN,
        },
    },
    "EventChanges": {
        "type": "object",
        "description": "Any subset of the fields; the result must still end after it starts.",
        "additionalProperties": False,
        "properties": {
            "title": _TITLE,
            "description": _DESCRIPTION,
            "starts_at": _TIME_IN,
            "ends_at": _TIME_IN,
        },
    },
    "EventPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("Event")},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    },
    "Profile": {
        "type": "object",
        "required": ["sub"],
        "properties": {
            "sub": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "email_verified": {"type": "boolean"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"type": "string"},
            "error_description": {"type": "string"},
            "scope": {"type": "string", "description": "With `insufficient_scope`."},
        },
    },
    "ValidationError": {
        "allOf": [
            _ref("Error"),
            {
                "type": "object",
                "properties": {
                    "fields": {
                        "type": "object",
                        "description": "What is wrong with each field, by field name.",
                        "additionalProperties": {"type": "string"},
                    }
                },
            },
        ]
    },
}

_FLASK_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def server_url(app: Flask, request_root: str) -> str:
    """Where the API is: its audience when that is an http(s) URL (the SPEC's default,
    ``http://127.0.0.1:5001``, is both), else the address this request reached."""
    audience = app.config["AUDIENCE"]
    parts = urlsplit(audience)
    if parts.scheme in ("http", "https") and parts.hostname:
        return str(audience).rstrip("/")
    return request_root.rstrip("/")


def build_openapi(app: Flask, request_root: str) -> dict[str, Any]:
    """The OpenAPI document; ``request_root`` (``request.url_root``) names the server only when
    the audience is not a URL."""
    issuer = app.config["ISSUER"]
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        operation = _OPERATIONS.get(rule.endpoint)
        if operation is None:
            continue
        scopes = list(getattr(app.view_functions[rule.endpoint], "required_scopes", ()))
        path = _FLASK_ARGUMENT.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            entry = {"operationId": rule.endpoint.removeprefix("api."), **operation}
            entry["security"] = [{SECURITY_SCHEME: scopes}]
            entry["responses"] = {**_PROTECTED_RESPONSES, **operation["responses"]}
            paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Resource API",
            "version": "1.0.0",
            "description": (
                "Each user's calendar events and profile, for access tokens issued by "
                f"{issuer}. Send the token as `Authorization: Bearer <token>`; a token bound "
                "to a key (DPoP, RFC 9449: its `cnf.jkt`) as `Authorization: DPoP <token>` with "
                "a new `DPoP` proof header per request."
            ),
        },
        # OpenAPI 3.1 §4.8.1: without ``servers`` the base is "/", relative to wherever the
        # document was found; generated clients and "Try it" tools need the absolute one.
        "servers": [{"url": server_url(app, request_root)}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "oauth2",
                    "description": "Access tokens (RFC 9068 JWTs) from the authorization server.",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": f"{issuer}/oauth/authorize",
                            "tokenUrl": f"{issuer}/oauth/token",
                            "refreshUrl": f"{issuer}/oauth/token",
                            "scopes": SCOPES,
                        }
                    },
                }
            },
        },
    }
