"""The SPEC's command line: thin wrappers around the services."""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .extensions import db
from .services import ServiceError, audit, checks, cleanup, clients, keys, users
from .services.clients import find_client

users_cli = AppGroup("users", help="Manage user accounts.")
clients_cli = AppGroup("clients", help="Manage registered clients.")
keys_cli = AppGroup("keys", help="Manage token signing keys.")

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - published on purpose: a local demo account
DEMO_CLIENT_ID = "demo-client"
DEMO_REDIRECT_URI = "http://127.0.0.1:5002/callback"  # the demo client app (examples/demo_client)
DEMO_POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:5002/"
DEMO_SCOPE = "openid profile email offline_access events:read events:write"
DEMO_GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]


def _emit(data: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data))
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--name", default="")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_user(email: str, password: str, name: str, as_json: bool) -> None:
    """Create a user account."""
    try:
        user = users.create_user(email, password, name)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    _emit({"email": user.email, "sub": user.subject, "name": user.name}, as_json)


@clients_cli.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--scope", required=True, help='Space-separated, e.g. "openid profile".')
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    help="authorization_code, refresh_token, client_credentials (repeatable).",
)
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option("--owner", "owner_email", help="Email of the developer who owns it.")
@click.option(
    "--resource-server",
    is_flag=True,
    help="May introspect any client's tokens (RFC 7662), e.g. the resource API.",
)
@click.option(
    "--verified",
    is_flag=True,
    help="The operator vouches for the app: the consent page shows no 'unverified' note.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_client(
    name: str,
    redirect_uris: tuple[str, ...],
    scope: str,
    grant_types: tuple[str, ...],
    public: bool,
    owner_email: str | None,
    resource_server: bool,
    verified: bool,
    as_json: bool,
) -> None:
    """Register a client; a confidential client's secret is printed this once."""
    owner = None
    if owner_email:
        owner = users.find_by_email(owner_email)
        if owner is None:
            raise click.ClickException(f"No user with email {owner_email!r}.")
    try:
        client, secret = clients.create_client(
            name=name,
            redirect_uris=list(redirect_uris),
            scope=scope,
            grant_types=list(grant_types) or None,
            public=public,
            owner=owner,
            can_introspect_any=resource_server,
            verified=verified,
            actor="operator",
        )
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    data = {"client_id": client.client_id}
    if secret:
        data["client_secret"] = secret
    _emit(data, as_json)


@clients_cli.command("verify")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify_client(client_id: str, as_json: bool) -> None:
    """Mark a client as verified by the operator (the console cannot)."""
    client = find_client(client_id)
    if client is None:
        raise click.ClickException(f"No client with client_id {client_id!r}.")
    clients.verify_client(client, actor="operator")
    db.session.commit()
    _emit({"client_id": client.client_id, "verified": True}, as_json)


@keys_cli.command("rotate")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def rotate_keys(as_json: bool) -> None:
    """Activate a new signing key; old keys stay published until their tokens expire."""
    key = keys.rotate_keys()
    audit.record("key.rotated", actor="operator", kid=key.kid)
    db.session.commit()
    _emit({"kid": key.kid}, as_json)


@click.command("demo")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def demo(as_json: bool) -> None:
    """Create (idempotently) a demo user and a demo client, and print their credentials.

    The client's secret is only ever kept as a hash, so each run issues a fresh one.
    """
    user = users.find_by_email(DEMO_EMAIL)
    if user is None:
        user = users.create_user(DEMO_EMAIL, DEMO_PASSWORD, "Demo User")
    else:
        users.set_password(user, DEMO_PASSWORD)
    client = find_client(DEMO_CLIENT_ID)
    if client is None:
        client, secret = clients.create_client(
            name="Demo App",
            redirect_uris=[DEMO_REDIRECT_URI],
            scope=DEMO_SCOPE,
            grant_types=DEMO_GRANT_TYPES,
            owner=user,
            client_id=DEMO_CLIENT_ID,
            actor="operator",
            post_logout_redirect_uris=[DEMO_POST_LOGOUT_REDIRECT_URI],
        )
    else:
        # An older demo client (or one edited in the console) gets the demo app's addresses back.
        clients.update_client(
            client,
            name=client.name,
            redirect_uris=[DEMO_REDIRECT_URI],
            scope=DEMO_SCOPE,
            grant_types=DEMO_GRANT_TYPES,
            post_logout_redirect_uris=[DEMO_POST_LOGOUT_REDIRECT_URI],
            actor="operator",
        )
        # No grace: the demo prints the one secret that works.
        secret = clients.rotate_secret(client, actor="operator")
    keys.active_key()
    db.session.commit()
    issuer = current_app.config["ISSUER"]
    _emit(
        {
            "issuer": issuer,
            "login": f"{issuer}/login",
            "console": f"{issuer}/console/",
            "user_email": DEMO_EMAIL,
            "user_password": DEMO_PASSWORD,
            "client_id": client.client_id,
            "client_secret": secret,
            "redirect_uri": DEMO_REDIRECT_URI,
            "post_logout_redirect_uri": DEMO_POST_LOGOUT_REDIRECT_URI,
        },
        as_json,
    )


@click.command("cleanup")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def cleanup_command(as_json: bool) -> None:
    """Delete expired codes, tokens, grants, sessions and old audit events (safe on every node)."""
    removed = cleanup.cleanup()
    _emit({**removed.counts, "total": removed.total}, as_json)


@click.command("check")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check_command(as_json: bool) -> None:
    """Check the running configuration against RFC 9700 and deployment basics."""
    findings = checks.run_checks(current_app.config)
    db.session.commit()  # a fresh install's first signing key, if the check just made it
    failed = [f for f in findings if f.status == checks.FAIL]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [f.as_dict() for f in findings]}))
    else:
        for finding in findings:
            click.echo(f"{finding.status.upper():4}  {finding.item}: {finding.detail}")
    if failed:
        raise SystemExit(1)


def register_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(clients_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(demo)
    app.cli.add_command(cleanup_command)
    app.cli.add_command(check_command)
