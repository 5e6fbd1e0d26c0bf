"""Token exchange (RFC 8693): which subject tokens a client may trade, and the token it gets.

A confidential client registered with the grant is a resource (``policy.client_resource``);
it may exchange an access token sent to it (its ``aud`` names the client or a resource
registered to it) for one with the same or a narrower scope for another resource. The new
token is the person's (same ``sub``), says who acts (``act``), and belongs to the subject
token's grant: revoking that grant revokes it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .. import clock, policy
from ..models import AccessToken, Client
from . import audit, resources, tokens


class ExchangeRefused(ValueError):
    """Why a subject token cannot be exchanged (RFC 8693 §2.2.2: ``invalid_request``)."""


@dataclass(frozen=True)
class Subject:
    record: AccessToken
    claims: dict


def subject_token(value: str | None, token_type: str | None, client: Client) -> Subject:
    """The access token ``client`` may exchange, or ``ExchangeRefused`` saying why not."""
    if not value:
        raise ExchangeRefused("Missing 'subject_token'.")
    if token_type == policy.REFRESH_TOKEN_TYPE or tokens.find_refresh_token(value) is not None:
        raise ExchangeRefused("A refresh token cannot be exchanged; send an access token.")
    if token_type != policy.ACCESS_TOKEN_TYPE:
        raise ExchangeRefused(f"'subject_token_type' must be {policy.ACCESS_TOKEN_TYPE}.")
    claims = tokens.decode_own_jwt(value)
    record = tokens.find_access_token(value) if claims is not None else None
    if claims is None or record is None:
        raise ExchangeRefused("The subject token is not an access token issued here.")
    if not tokens.access_token_active(record):
        raise ExchangeRefused("The subject token has expired or was revoked.")
    audience = record.audience.split()
    own = [policy.client_resource(client.client_id), *resources.registered_to(client)]
    if not policy.may_exchange(audience, own):
        raise ExchangeRefused("The subject token was not issued for this client.")
    return Subject(record, claims)


def exchanged_token(
    client: Client,
    subject: Subject,
    scope: str,
    audience: list[str],
    address: str | None,
    jkt: str | None = None,
) -> dict:
    """The token response (RFC 8693 §2.2.1): an access token for ``audience`` with ``act``,
    recorded in the subject token's grant and audited. No refresh token (§2.2.1 leaves it
    optional; a resource that needs more asks again with a fresh subject token). ``jkt``: the
    DPoP key the new token is bound to (RFC 9449), if the request carried a proof."""
    life = policy.lifetimes(current_app.config)
    person = subject.record.user
    auth_time = subject.record.family.auth_time if subject.record.family else None
    claims = tokens.access_token_claims(
        client, person, scope, auth_time, life, clock.now(), audience, jkt
    )
    if person is None:
        claims["sub"] = subject.claims["sub"]  # a client's own token: that client stays the subject
    act = subject.claims.get("act")
    claims["act"] = policy.actor_claim(client.client_id, act if isinstance(act, dict) else None)
    token = {
        "access_token": tokens.sign_access_token(claims),
        "issued_token_type": policy.ACCESS_TOKEN_TYPE,
        "token_type": policy.access_token_type(jkt),
        "expires_in": life.access_token,
        "scope": scope,
    }
    tokens.record_access_token(claims, client, person, subject.record.family)
    audit.record(
        "token.exchanged",
        user_id=person.id if person is not None else None,
        client_id=client.client_id,
        actor=f"client:{client.client_id}",
        address=address,
        subject_client_id=subject.record.client.client_id,
        subject_jti=subject.record.jti,
        scope=scope,
        audience=" ".join(audience),
        jti=claims["jti"],
    )
    return token
