"""What the protocol views answer with: error pages, redirects that name the issuer, cacheable
public documents, uncached token responses, and the one commit of an endpoint with the record of
its refusals."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from authlib.common.urls import add_params_to_uri
from flask import current_app, g, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import policy, throttling
from ..extensions import db
from ..logs import note
from ..models import Client
from ..oauth2.errors import refusal_reason
from ..services import audit
from ..services.clients import find_client


def error_page(
    title: str, message: str, status: int = 400, mismatch: UriMismatch | None = None
) -> tuple[str, int]:
    """Shown instead of a redirect when the target cannot be trusted (RFC 6749 §4.1.2.1)."""
    page = render_template("oauth2/error.html", title=title, message=message, mismatch=mismatch)
    return page, status


@dataclass(frozen=True)
class UriMismatch:
    """For the developer on a refusal page: the URI sent (as text, never a link), and the ones
    registered, shown only to the client's owner signed in here: a client's full list of
    addresses (staging hosts, internal names) is not every visitor's business."""

    parameter: str
    sent: str
    registered: list[str] | None  # None: the viewer is not the client's owner
    console_url: str


def uri_mismatch(client: Client, parameter: str, sent: str, registered: list[str]) -> UriMismatch:
    owner = current_user.is_authenticated and client.owner_id == current_user.id
    return UriMismatch(
        parameter=parameter,
        sent=sent,
        registered=list(registered) if owner else None,
        console_url=url_for("console.show_client", client_id=client.client_id),
    )


def with_issuer(response: Response) -> Response:
    """RFC 9207: every authorization response that goes back to the client names the issuer."""
    location = response.headers.get("Location")
    if response.status_code in (302, 303) and location:
        response.headers["Location"] = add_params_to_uri(
            location, [("iss", current_app.config["ISSUER"])]
        )
    return response


def cacheable_json(body: bytes, etag: str, max_age: int) -> Response:
    """A public JSON document from memory, with an ETag so a client that has it gets 304."""
    headers = [("Cache-Control", f"public, max-age={max_age}"), ("ETag", etag)]
    # RFC 9110 §13.1.2: weak comparison; a list of tags or "*" may be sent.
    presented = request.headers.get("If-None-Match", "")
    if presented and (presented.strip() == "*" or etag in presented.replace("W/", "").split(", ")):
        return Response(status=304, headers=headers)
    return Response(body, headers=headers, content_type="application/json")


def uncached(response: Response) -> Response:
    """RFC 6749 §5.1: token material, and errors about it, must not be cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def commits_once(record: str | None = None) -> Callable:
    """The endpoint's one commit: what the request changed is kept only if it succeeded.

    With ``record``, a refusal that names a registered client is put on that client's record
    (``record`` is the event's name), after the rollback and in a transaction of its own.
    """

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def committed(*args: object, **kwargs: object) -> Response:
            response = view(*args, **kwargs)
            if response.status_code < 400:
                db.session.commit()
                note(outcome="ok")
                return response
            db.session.rollback()
            note(outcome=error_code(response))
            if record is not None:
                _record_refusal(record, response)
            return response

        return committed

    return decorate


def error_code(response: Response) -> str:
    """The RFC 6749 §5.2 ``error`` of a refusal (a short code, never a credential)."""
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    return error[:64] if isinstance(error, str) else f"http_{response.status_code}"


def _record_refusal(event: str, response: Response) -> None:
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return
    client = find_client(throttling.claimed_client_id())
    if client is None:
        return  # an unknown client has no developer to tell; strangers do not fill the record
    client_id = client.client_id
    # Only a client's secret proves the request came from it; a public client's id, or a wrong
    # secret, anyone can send (and those refusals must not push out the proven ones).
    proven = not client.is_public and throttling.authenticated_client_id() == client_id
    db.session.rollback()  # end the lookup's read before writing on a connection of our own
    grant_type = request.form.get("grant_type")
    audit.record_refusal(
        event,
        client_id=client_id,
        actor=f"client:{client_id}" if proven else audit.ANONYMOUS,
        address=request.remote_addr,
        error=body["error"][:64],
        reason=refusal_reason(g.get("oauth2_error"), body["error"], body.get("error_description")),
        grant_type=grant_type if grant_type in policy.GRANT_TYPES else None,
    )


def authorize_refused(
    client_id: str | None, error: str, reason: str, event: str = "authorize.refused"
) -> None:
    """Put a refused authorization (or logout) request on its (registered) client's record."""
    client = find_client(client_id)
    if client is None:
        return  # nobody to tell, and no reason to let strangers write to the record
    user = current_user._get_current_object() if current_user.is_authenticated else None
    audit.record_refusal(
        event,
        user=user,
        client_id=client.client_id,
        actor=f"user:{user.subject}" if user is not None else audit.ANONYMOUS,
        address=request.remote_addr,
        error=error,
        reason=reason,
    )
