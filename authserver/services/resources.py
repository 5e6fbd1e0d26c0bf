"""Resource indicators (RFC 8707): which resources tokens may be issued for.

The rule is ``policy.permitted_resources`` (the default audience and ``AUTHSERVER_RESOURCES``)
plus what only the database knows: resources registered to a client, and confidential clients
registered for token exchange, which are resources themselves (``policy.client_resource``).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select

from .. import policy
from ..extensions import db
from ..models import Client, ClientResource
from . import ServiceError
from .clients import find_client


def default_audience() -> list[str]:
    """What a token is for when nobody asked for a resource."""
    return [current_app.config["DEFAULT_AUDIENCE"]]


def granted_or_default(resources: list[str] | None) -> list[str]:
    """Stored resources of a code or grant; empty means the default audience."""
    return list(resources) if resources else default_audience()


def is_known(uri: str) -> bool:
    """Whether tokens may be issued for ``uri``."""
    config = current_app.config
    if uri in policy.permitted_resources(config["DEFAULT_AUDIENCE"], config.get("RESOURCES")):
        return True
    if uri.startswith(policy.CLIENT_RESOURCE_PREFIX):
        client = find_client(uri.removeprefix(policy.CLIENT_RESOURCE_PREFIX))
        return (
            client is not None
            and client.disabled_at is None
            and not client.is_public
            and policy.TOKEN_EXCHANGE_GRANT in client.grant_types
        )
    found = db.session.scalar(select(ClientResource.id).where(ClientResource.uri == uri).limit(1))
    return found is not None


def unknown(requested: Iterable[str]) -> list[str]:
    """The requested resources tokens may not be issued for (``invalid_target``)."""
    return [uri for uri in dict.fromkeys(requested) if not is_known(uri)]


def registered_to(client: Client) -> list[str]:
    """The resources registered to ``client`` (``clients create --resource``)."""
    return list(
        db.session.scalars(
            select(ClientResource.uri)
            .where(ClientResource.client_id == client.id)
            .order_by(ClientResource.id)
        )
    )


def register(client: Client, uris: Iterable[str]) -> None:
    """Register resources to ``client``; flushed, the caller commits."""
    cleaned = list(dict.fromkeys(u.strip() for u in uris if u.strip()))
    problem = policy.resource_problem(cleaned)
    if problem:
        raise ServiceError(problem, "resources")
    for uri in cleaned:
        db.session.add(ClientResource(client_id=client.id, uri=uri))
    db.session.flush()
