"""The SPEC's command line: thin wrappers around the services."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from . import mail, policy
from .extensions import db
from .services import (
    ServiceError,
    audit,
    checks,
    cleanup,
    clients,
    keys,
    metadata_check,
    node_check,
    operator,
    outbox,
    resources,
    users,
)
from .services.clients import find_client

users_cli = AppGroup("users", help="Manage user accounts.")
clients_cli = AppGroup("clients", help="Manage registered clients.")
keys_cli = AppGroup("keys", help="Manage token signing keys.")
tokens_cli = AppGroup("tokens", help="Revoke tokens.")
sessions_cli = AppGroup("sessions", help="End login sessions.")
outbox_cli = AppGroup("outbox", help="Mail waiting to be sent.")

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - published on purpose: a local demo account
DEMO_CLIENT_ID = "demo-client"
#: Where the demo client app (examples/demo_client) runs by default; its own settings
#: DEMO_CLIENT_REDIRECT_URI and DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI, when set, say otherwise.
DEMO_REDIRECT_URI = "http://127.0.0.1:5002/callback"
DEMO_POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:5002/"
DEMO_SCOPE = "openid profile email offline_access events:read events:write"
DEMO_GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
#: A second demo client, public, for the device flow from a terminal (examples/device_flow.py).
DEMO_DEVICE_CLIENT_ID = "demo-device"
DEMO_DEVICE_GRANT_TYPES = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]


def _emit(data: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data))
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


def _emit_rows(name: str, rows: list[dict], columns: tuple[str, ...], as_json: bool) -> None:
    """A list as ``{name: [...]}`` in JSON, else one line per row of the given columns."""
    if as_json:
        click.echo(json.dumps({name: rows}))
        return
    for row in rows:
        click.echo("  ".join(str(row[column]) for column in columns))


def _one_line_errors(command: Callable) -> Callable:
    """A broken rule becomes one line on stderr and exit status 1; nothing is committed."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ServiceError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from None

    return wrapper


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(command)


def password_options(command: Callable) -> Callable:
    """``--password-stdin`` (the first line of standard input), else a hidden prompt asked
    twice; ``--password`` still works but leaves the password in the shell's history and the
    process list, so the help says so."""
    command = click.option(
        "--password-stdin",
        "password_stdin",
        is_flag=True,
        help="Read the password from the first line of standard input (scripts).",
    )(command)
    return click.option(
        "--password",
        default=None,
        help="The password itself (visible in shell history and `ps`: prefer the prompt or "
        "--password-stdin).",
    )(command)


def read_password(password: str | None, from_stdin: bool) -> str:
    """The password from whichever source the operator chose (one only)."""
    if password is not None and from_stdin:
        raise click.UsageError("Give --password or --password-stdin, not both.")
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")  # CliRunner's input in tests
        if not line:
            raise click.UsageError("--password-stdin read no password.")
        return line
    if password is not None:
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_cli.command("create")
@click.option("--email", required=True)
@password_options
@click.option("--name", default="")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_user(
    email: str, password: str | None, password_stdin: bool, name: str, as_json: bool
) -> None:
    """Create a user account (the password is asked for unless given)."""
    secret = read_password(password, password_stdin)
    try:
        user = users.create_user(email, secret, name)
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
@click.option(
    "--post-logout-redirect-uri",
    "post_logout_redirect_uris",
    multiple=True,
    help="Where RP-initiated logout may send the person back to (repeatable).",
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
@click.option(
    "--resource",
    "resource_uris",
    multiple=True,
    help="A resource (RFC 8707) this client serves: tokens may be issued for it (repeatable).",
)
@click.option(
    "--auth-method",
    type=click.Choice(policy.CONFIDENTIAL_METHODS),
    help="How it authenticates (default client_secret_basic; RFC 7523 private_key_jwt or "
    "client_secret_jwt).",
)
@click.option(
    "--jwks",
    "jwks_file",
    type=click.File("r"),
    help="private_key_jwt: a file with its public keys (a JWK Set).",
)
@click.option("--jwks-uri", help="private_key_jwt: the https URL of its public keys.")
@click.option(
    "--require-par",
    is_flag=True,
    help="Its authorization requests must be pushed first (RFC 9126 PAR).",
)
@click.option(
    "--backchannel-logout-uri",
    help="Where a signed logout token is POSTed when a person who signed in to it logs out "
    "(OpenID Connect Back-Channel Logout).",
)
@click.option(
    "--backchannel-logout-session-required",
    is_flag=True,
    help="It requires sid in logout tokens (always sent).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_client(
    name: str,
    redirect_uris: tuple[str, ...],
    scope: str,
    grant_types: tuple[str, ...],
    post_logout_redirect_uris: tuple[str, ...],
    public: bool,
    owner_email: str | None,
    resource_server: bool,
    verified: bool,
    resource_uris: tuple[str, ...],
    auth_method: str | None,
    jwks_file: TextIO | None,
    jwks_uri: str | None,
    require_par: bool,
    backchannel_logout_uri: str | None,
    backchannel_logout_session_required: bool,
    as_json: bool,
) -> None:
    """Register a client; a confidential client's secret is printed this once."""
    owner = None
    if owner_email:
        owner = users.find_by_email(owner_email)
        if owner is None:
            raise click.ClickException(f"No user with email {owner_email!r}.")
    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.load(jwks_file)
        except ValueError:
            raise click.ClickException("The --jwks file is not JSON.") from None
    try:
        client, secret = clients.create_client(
            name=name,
            redirect_uris=list(redirect_uris),
            scope=scope,
            grant_types=list(grant_types) or None,
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            public=public,
            owner=owner,
            can_introspect_any=resource_server,
            verified=verified,
            actor="operator",
            auth_method=auth_method,
            jwks=jwks,
            jwks_uri=jwks_uri,
            require_pushed_authorization_requests=require_par,
            backchannel_logout_uri=backchannel_logout_uri,
            backchannel_logout_session_required=backchannel_logout_session_required,
        )
        resources.register(client, list(resource_uris))
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    data = {"client_id": client.client_id}
    if secret:
        data["client_secret"] = secret
    _emit(data, as_json)


@clients_cli.command("verify")
@click.argument("client_id")
@json_option
@_one_line_errors
def verify_client(client_id: str, as_json: bool) -> None:
    """Mark a client as verified by the operator (the console cannot)."""
    client = operator.get_client(client_id)
    clients.verify_client(client, actor="operator")
    db.session.commit()
    _emit({"client_id": client.client_id, "verified": True}, as_json)


# --- users -------------------------------------------------------------------------------------


@users_cli.command("list")
@json_option
def list_users(as_json: bool) -> None:
    """Every account: email, sub, whether it is disabled."""
    rows = [operator.describe_user(user) for user in users.all_users()]
    _emit_rows("users", rows, ("email", "sub", "disabled", "name"), as_json)


@users_cli.command("show")
@click.argument("email")
@json_option
@_one_line_errors
def show_user(email: str, as_json: bool) -> None:
    """One account, with its live sessions, grants and clients."""
    _emit(operator.describe_user(operator.get_user(email), detail=True), as_json)


@users_cli.command("disable")
@click.argument("email")
@json_option
@_one_line_errors
def disable_user(email: str, as_json: bool) -> None:
    """Stop an account: no login, its sessions end, its tokens are revoked."""
    user = operator.get_user(email)
    ended = operator.disable_user(user)
    db.session.commit()
    _emit({"email": user.email, "disabled": True, **ended}, as_json)


@users_cli.command("reset-mfa")
@click.option("--email", required=True)
@json_option
@_one_line_errors
def reset_mfa(email: str, as_json: bool) -> None:
    """Remove an account's authenticator app, recovery codes and passkeys (the person lost
    them); its sessions end, and the password alone signs in again. Audited."""
    user = operator.get_user(email)
    removed = operator.reset_mfa(user)
    db.session.commit()
    _emit({"email": user.email, **removed}, as_json)


@users_cli.command("enable")
@click.argument("email")
@json_option
@_one_line_errors
def enable_user(email: str, as_json: bool) -> None:
    """Let a disabled account log in again (nothing revoked comes back)."""
    user = operator.get_user(email)
    operator.enable_user(user)
    db.session.commit()
    _emit({"email": user.email, "disabled": False}, as_json)


@users_cli.command("delete")
@click.argument("email")
@click.option("--with-clients", is_flag=True, help="Also delete the clients the user owns.")
@json_option
@_one_line_errors
def delete_user(email: str, with_clients: bool, as_json: bool) -> None:
    """Delete an account with its sessions, consents and tokens."""
    user = operator.get_user(email)
    subject = user.subject
    deleted_clients = operator.delete_user(user, with_clients=with_clients)
    db.session.commit()
    _emit({"email": email, "sub": subject, "deleted": True, "clients": deleted_clients}, as_json)


@users_cli.command("set-password")
@click.argument("email")
@password_options
@json_option
@_one_line_errors
def set_user_password(
    email: str, password: str | None, password_stdin: bool, as_json: bool
) -> None:
    """Set a new password (asked for unless given); every login session of the account ends."""
    user = operator.get_user(email)
    operator.set_password(user, read_password(password, password_stdin))
    db.session.commit()
    _emit({"email": user.email, "password_changed": True}, as_json)


@users_cli.command("verify-email")
@click.argument("email")
@json_option
@_one_line_errors
def verify_user_email(email: str, as_json: bool) -> None:
    """Mark the account's address verified (email_verified becomes true in its tokens)."""
    user = operator.get_user(email)
    changed = operator.verify_email(user)
    db.session.commit()
    _emit({"email": user.email, "email_verified": True, "changed": changed}, as_json)


@users_cli.command("send-reset")
@click.argument("email")
@json_option
@_one_line_errors
def send_user_reset(email: str, as_json: bool) -> None:
    """Mail the person a link to choose a new password (it works once, for 30 minutes)."""
    user = operator.get_user(email)
    operator.send_reset(user)
    db.session.commit()
    _emit({"email": user.email, "reset_mail_queued": True}, as_json)


# --- clients -----------------------------------------------------------------------------------


@clients_cli.command("list")
@json_option
def list_clients(as_json: bool) -> None:
    """Every registered client."""
    rows = [operator.describe_client(client) for client in clients.all_clients()]
    _emit_rows("clients", rows, ("client_id", "name", "owner", "disabled"), as_json)


@clients_cli.command("show")
@click.argument("client_id")
@json_option
@_one_line_errors
def show_client(client_id: str, as_json: bool) -> None:
    """One client's registration."""
    _emit(operator.describe_client(operator.get_client(client_id)), as_json)


@clients_cli.command("disable")
@click.argument("client_id")
@json_option
@_one_line_errors
def disable_client(client_id: str, as_json: bool) -> None:
    """Stop a client: it cannot authenticate or start an authorization; its tokens are revoked."""
    client = operator.get_client(client_id)
    revoked = operator.disable_client(client)
    db.session.commit()
    _emit({"client_id": client.client_id, "disabled": True, **revoked}, as_json)


@clients_cli.command("enable")
@click.argument("client_id")
@json_option
@_one_line_errors
def enable_client(client_id: str, as_json: bool) -> None:
    """Let a disabled client work again (its revoked tokens stay revoked)."""
    client = operator.get_client(client_id)
    operator.enable_client(client)
    db.session.commit()
    _emit({"client_id": client.client_id, "disabled": False}, as_json)


@clients_cli.command("rotate-secret")
@click.argument("client_id")
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    help="Seconds the old secret keeps working (default: CLIENT_SECRET_GRACE; 0 for none).",
)
@json_option
@_one_line_errors
def rotate_client_secret(client_id: str, grace: int | None, as_json: bool) -> None:
    """Issue a new client secret, printed this once."""
    client = operator.get_client(client_id)
    secret = operator.rotate_secret(client, grace)
    db.session.commit()
    expiry = clients.previous_secret_expiry(client)
    data = {
        "client_id": client.client_id,
        "client_secret": secret,
        "previous_secret_expires_at": expiry.isoformat() if expiry else None,
    }
    _emit(data, as_json)


@clients_cli.command("delete")
@click.argument("client_id")
@json_option
@_one_line_errors
def delete_client(client_id: str, as_json: bool) -> None:
    """Delete a client with its codes, consents and tokens."""
    client = operator.get_client(client_id)
    clients.delete_client(client, actor="operator")
    db.session.commit()
    _emit({"client_id": client_id, "deleted": True}, as_json)


# --- tokens and sessions -----------------------------------------------------------------------


@tokens_cli.command("revoke")
@click.option("--user", "email", help="Every token of this user (email).")
@click.option("--client", "client_id", help="Every token of this client.")
@json_option
@_one_line_errors
def revoke_tokens(email: str | None, client_id: str | None, as_json: bool) -> None:
    """Revoke every live token family (and unredeemed code) of a user or a client."""
    user = operator.get_user(email) if email is not None else None
    client = operator.get_client(client_id) if client_id is not None else None
    revoked = operator.revoke_tokens(user=user, client=client)
    db.session.commit()
    _emit(revoked, as_json)


@sessions_cli.command("end")
@click.option("--user", "email", required=True, help="The user's email.")
@json_option
@_one_line_errors
def end_sessions(email: str, as_json: bool) -> None:
    """End every login session of a user (their tokens stay; see `tokens revoke`)."""
    user = operator.get_user(email)
    ended = operator.end_sessions(user)
    db.session.commit()
    _emit({"email": user.email, "sessions": ended}, as_json)


@click.command("after-restore")
@with_appcontext
@click.option("--yes", is_flag=True, help="Do it without asking (scripts).")
@json_option
@_one_line_errors
def after_restore(yes: bool, as_json: bool) -> None:
    """After restoring a backup: end every session, revoke every token, rotate the signing key.

    Run it with the nodes stopped, before they serve from the restored database: tokens revoked
    since the backup was taken are live again in it. Everyone logs in again.
    """
    if not yes:
        click.confirm(
            "End every login session and revoke every token (everyone logs in again)?",
            abort=True,
        )
    done = operator.after_restore()
    db.session.commit()
    if as_json:
        _emit(done, as_json)
        return
    click.echo(
        f"Ended {done['sessions']} login session(s); revoked {done['families']} token "
        f"grant(s) and {done['access_tokens']} access token(s); discarded {done['codes']} "
        f"unredeemed code(s). New signing key {done['new_signing_key']} is active; the previous "
        "ones stay in the JWKS until their tokens expire. Everyone logs in again; apps ask again."
    )


# --- keys --------------------------------------------------------------------------------------


@keys_cli.command("list")
@json_option
def list_keys(as_json: bool) -> None:
    """Every signing key: active, published (waiting), retired; whether the JWKS lists it."""
    rows = keys.list_keys()
    db.session.commit()  # a fresh install's first key, if listing just made it
    _emit_rows("keys", rows, ("kid", "state", "in_jwks", "created_at"), as_json)


@keys_cli.command("rotate")
@click.option(
    "--publish-only",
    is_flag=True,
    help="Publish the next key in the JWKS without signing with it; a later rotate activates it.",
)
@json_option
@_one_line_errors
def rotate_keys(publish_only: bool, as_json: bool) -> None:
    """Activate the pre-published key (or a new one); old keys stay published until their
    tokens expire."""
    previous = keys.current_active_key()
    if publish_only:
        key = keys.publish_next_key()
        audit.record("key.published", actor="operator", kid=key.kid)
    else:
        key = keys.rotate_keys()
        audit.record("key.rotated", actor="operator", kid=key.kid)
    db.session.commit()
    state = "published" if publish_only else "active"
    if as_json:
        _emit({"kid": key.kid, "state": state}, as_json)
    elif publish_only:
        click.echo(
            f"Published key {key.kid} in the JWKS; it signs nothing yet. Run `authserver keys "
            "rotate` once resource servers have fetched it (after their JWKS cache time)."
        )
    else:
        before = f"; {previous.kid} is retired" if previous is not None else ""
        click.echo(
            f"Key {key.kid} signs new tokens on every node within "
            f"{current_app.config['CACHE_CHECK_INTERVAL']:g} s{before} and stays in the JWKS "
            "until the tokens it signed have expired."
        )


@keys_cli.command("retire")
@click.argument("kid")
@click.option(
    "--now",
    "withdraw",
    is_flag=True,
    help="It leaked: out of the JWKS at once, tokens it signed refused (an active key is "
    "replaced first).",
)
@json_option
@_one_line_errors
def retire_key(kid: str, withdraw: bool, as_json: bool) -> None:
    """Retire a key that is not the active one; with --now, withdraw any key at once."""
    if withdraw:
        withdrawn = keys.withdraw_key(kid)
        audit.record(
            "key.withdrawn", actor="operator", kid=withdrawn.kid, replaced_by=withdrawn.replaced_by
        )
        db.session.commit()
        if as_json:
            _emit({"kid": withdrawn.kid, "state": "withdrawn", **_replaced(withdrawn)}, as_json)
            return
        replaced = f" Key {withdrawn.replaced_by} signs instead." if withdrawn.replaced_by else ""
        click.echo(
            f"Withdrew key {withdrawn.kid}: it is out of this server's JWKS on every node within "
            f"{current_app.config['CACHE_CHECK_INTERVAL']:g} s, and tokens it signed are refused "
            f"here from now on (introspection: inactive; UserInfo: invalid_token).{replaced} "
            "Clients holding such tokens must get new ones (refresh, or log in again); resource "
            "servers that verify JWTs themselves accept them until their JWKS cache expires. "
            "`authserver cleanup` deletes its private key."
        )
        return
    key = keys.retire_key(kid)
    audit.record("key.retired", actor="operator", kid=key.kid)
    db.session.commit()
    if as_json:
        _emit({"kid": key.kid, "state": "retired"}, as_json)
        return
    click.echo(
        f"Retired key {key.kid}: it signs nothing and stays in the JWKS until the tokens it "
        "signed have expired (a key that never signed leaves it now). To pull it out at once, "
        "use `keys retire --now`."
    )


def _replaced(withdrawn: keys.Withdrawn) -> dict[str, str]:
    return {"replaced_by": withdrawn.replaced_by} if withdrawn.replaced_by else {}


@keys_cli.command("rewrap")
@json_option
@_one_line_errors
def rewrap_keys(as_json: bool) -> None:
    """Re-encrypt every signing key under the current key-encryption key (after changing it)."""
    rewrapped, total = keys.rewrap_keys()
    kek = keys.key_ring().current
    if rewrapped:
        audit.record("key.rewrapped", actor="operator", keys=rewrapped, kek=kek.id)
    db.session.commit()
    _emit({"rewrapped": rewrapped, "keys": total, "key_encryption_key": kek.id}, as_json)


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
    # The demo client's own settings (examples/demo_client/config.py), read from the same
    # environment (`authserver serve --demo-client` derives them from the ports).
    redirect_uri = os.environ.get("DEMO_CLIENT_REDIRECT_URI") or DEMO_REDIRECT_URI
    logout_uri = os.environ.get("DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI")
    logout_uri = logout_uri or DEMO_POST_LOGOUT_REDIRECT_URI
    # Back-channel logout: the demo app's POST /backchannel-logout, beside its callback.
    parts = urlsplit(redirect_uri)
    backchannel_uri = f"{parts.scheme}://{parts.netloc}/backchannel-logout"
    client = find_client(DEMO_CLIENT_ID)
    if client is None:
        client, secret = clients.create_client(
            name="Demo App",
            redirect_uris=[redirect_uri],
            scope=DEMO_SCOPE,
            grant_types=DEMO_GRANT_TYPES,
            owner=user,
            client_id=DEMO_CLIENT_ID,
            actor="operator",
            post_logout_redirect_uris=[logout_uri],
            backchannel_logout_uri=backchannel_uri,
            # The operator's own demo, made by this command: vouched for, so the consent page a
            # newcomer first sees is the one a real, verified app gets.
            verified=True,
        )
    else:
        # An older demo client (or one edited in the console) gets the demo app's addresses
        # back: those its settings name, wherever it runs.
        clients.update_client(
            client,
            name=client.name,
            redirect_uris=[redirect_uri],
            scope=DEMO_SCOPE,
            grant_types=DEMO_GRANT_TYPES,
            post_logout_redirect_uris=[logout_uri],
            actor="operator",
            backchannel=(backchannel_uri, False),
        )
        if not client.verified:
            # The operator's own demo, at the addresses the operator's settings name.
            clients.verify_client(client, actor="operator")
        # No grace: the demo prints the one secret that works.
        secret = clients.rotate_secret(client, actor="operator")
    if find_client(DEMO_DEVICE_CLIENT_ID) is None:
        clients.create_client(
            name="Demo Terminal",
            redirect_uris=[],
            scope=DEMO_SCOPE,
            grant_types=DEMO_DEVICE_GRANT_TYPES,
            public=True,
            owner=user,
            client_id=DEMO_DEVICE_CLIENT_ID,
            actor="operator",
            verified=True,
        )
    keys.active_key()
    db.session.commit()
    issuer = current_app.config["ISSUER"]
    _emit(
        {
            "device_client_id": DEMO_DEVICE_CLIENT_ID,
            "issuer": issuer,
            "login": f"{issuer}/login",
            "console": f"{issuer}/console/",
            "user_email": DEMO_EMAIL,
            "user_password": DEMO_PASSWORD,
            "client_id": client.client_id,
            "client_secret": secret,
            "redirect_uri": redirect_uri,
            "post_logout_redirect_uri": logout_uri,
            "backchannel_logout_uri": backchannel_uri,
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


def _served_metadata(issuer: str) -> dict[str, tuple[int, object]]:
    """The discovery documents as this app serves them at each location clients look, asked
    in-process (no network, and no request log line in the command's output)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    served: dict[str, tuple[int, object]] = {}
    for location in metadata_check.metadata_locations(issuer):
        parts = urlsplit(location)
        with app.test_request_context(parts.path, base_url=f"{parts.scheme}://{parts.netloc}"):
            response = app.full_dispatch_request()
            served[location] = (response.status_code, response.get_json(silent=True))
    return served


@click.command("check")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--url",
    metavar="URL",
    help="Check a running node over HTTP instead (e.g. http://node:5000): read-only GETs.",
)
@click.option(
    "--metrics",
    "metrics_address",
    metavar="HOST:PORT",
    help="With --url: that node's metrics address (AUTHSERVER_METRICS_ADDRESS) to check too.",
)
@click.option(
    "--resource",
    "resource_urls",
    metavar="URL",
    multiple=True,
    help="A resource server's identifier (e.g. http://127.0.0.1:5001): check its RFC 9728 "
    "metadata and 401 challenge over HTTP too. Repeatable.",
)
def check_command(
    as_json: bool, url: str | None, metrics_address: str | None, resource_urls: tuple[str, ...]
) -> None:
    """Check the running configuration and the published metadata against RFC 9700, RFC 8414
    and OpenID Connect Discovery, or (--url) what a running node shows over HTTP."""
    if metrics_address is not None and url is None:
        raise click.UsageError("--metrics goes with --url.")
    if url is not None:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise click.UsageError(f"--url must be an http(s) URL, not {url!r}.")
        findings = node_check.check_node(url, metrics_address, resource_urls)
    else:
        issuer = current_app.config["ISSUER"]
        findings = [
            *checks.run_checks(current_app.config),
            *checks.metadata_findings(_served_metadata(issuer), issuer),
            *[f for resource in resource_urls for f in node_check.check_resource(resource, issuer)],
        ]
    db.session.rollback()  # read only: whatever a check touched is not kept
    failed = [f for f in findings if f.status == checks.FAIL]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [f.as_dict() for f in findings]}))
    else:
        for finding in findings:
            click.echo(f"{finding.status.upper():4}  {finding.item}: {finding.detail}")
    if failed:
        raise SystemExit(1)


@outbox_cli.command("status")
@json_option
def outbox_status(as_json: bool) -> None:
    """What waits in the outbox, how long the oldest has waited, how many keep failing."""
    now = outbox.state()
    oldest = int(now.oldest_age.total_seconds()) if now.oldest_age is not None else None
    _emit(
        {
            "queued": now.queued,
            "oldest_seconds": oldest,
            "failing": now.failing,
            "given_up_last_day": now.given_up,
        },
        as_json,
    )


@outbox_cli.command("send")
@json_option
def outbox_send(as_json: bool) -> None:
    """Deliver what is due now (what each server process does every OUTBOX_INTERVAL)."""
    run = outbox.deliver_due(mail.DELIVERERS)
    _emit(
        {
            "sent": sum(run.sent.values()),
            "failed": sum(run.failed.values()),
            "gave_up": sum(run.gave_up.values()),
        },
        as_json,
    )


def database_problem(error: SQLAlchemyError) -> str:
    """One line for an operator: what the database said, and the two usual causes."""
    said = str(getattr(error, "orig", None) or error).strip().splitlines()
    return (
        f"The database cannot be used: {said[0] if said else type(error).__name__}. "
        "Is AUTHSERVER_DATABASE_URL right, and has `authserver db upgrade` run?"
    )


#: The command callbacks ``_database_errors_in_one_line`` made: never wrapped twice.
_GUARDED: set[Callable[..., Any]] = set()


def _database_errors_in_one_line(command: click.Command) -> None:
    """Every command of ours (groups' too): an unreachable or unmigrated database is one line
    on stderr and exit status 1, not a traceback."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _database_errors_in_one_line(sub)
        return
    callback = command.callback
    if callback is None or callback in _GUARDED:
        return  # the commands are module-level: each app made in this process sees them again

    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except SQLAlchemyError as error:
            db.session.rollback()
            raise click.ClickException(database_problem(error)) from None

    _GUARDED.add(guarded)
    command.callback = guarded


def register_cli(app: Flask) -> None:
    for command in (
        users_cli,
        clients_cli,
        keys_cli,
        tokens_cli,
        sessions_cli,
        outbox_cli,
        demo,
        cleanup_command,
        check_command,
        after_restore,
    ):
        _database_errors_in_one_line(command)
        app.cli.add_command(command)
