"""Registered applications: who may register what, and how secrets are made and replaced."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from .. import clock, policy
from ..config import is_loopback_host
from ..extensions import db
from ..models import Client, User
from ..scopes import CATALOGUE, join_scopes, scope_list
from ..security.secrets import hash_secret, new_secret
from . import ServiceError, audit, caches, client_keys

GRANT_TYPES = policy.GRANT_TYPES
MAX_REDIRECT_URIS = 10


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be registered, or None (RFC 6749 §3.1.2, RFC 9700 §2.1)."""
    if len(uri) > 2000:
        return "is too long"
    if any(ch.isspace() for ch in uri):
        return "contains spaces"
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL"
    if not parts.scheme or not parts.netloc or not host:
        return "must be an absolute URL"
    if "#" in uri:
        return "must not contain a fragment (#...)"
    if parts.username or parts.password:
        return "must not contain a user name or password"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback_host(host):
        return None
    if parts.scheme == "http":
        return "must use https (plain http is allowed only for 127.0.0.1, [::1] or localhost)"
    return "must use https"


def clean_uris(uris: list[str], field: str, label: str = "Redirect URI") -> list[str]:
    cleaned = list(dict.fromkeys(u.strip() for u in uris if u.strip()))
    if len(cleaned) > MAX_REDIRECT_URIS:
        raise ServiceError(f"Register at most {MAX_REDIRECT_URIS} URIs.", field)
    for uri in cleaned:
        problem = redirect_uri_problem(uri)
        if problem:
            raise ServiceError(f"{label} {uri!r} {problem}.", field)
    return cleaned


def backchannel_fields(uri: str | None, session_required: bool) -> tuple[str | None, bool]:
    """The checked back-channel logout registration (Back-Channel Logout 1.0 §2.2): an absolute
    https URL (http for loopback only), no fragment; requiring ``sid`` needs a URI."""
    uri = (uri or "").strip() or None
    if uri is None:
        if session_required:
            raise ServiceError(
                "backchannel_logout_session_required needs a backchannel_logout_uri.",
                "backchannel_logout_uri",
            )
        return None, False
    problem = redirect_uri_problem(uri)
    if problem:
        raise ServiceError(f"Back-channel logout URI {uri!r} {problem}.", "backchannel_logout_uri")
    return uri, bool(session_required)


def validate_registration(
    name: str,
    redirect_uris: list[str],
    scopes: list[str],
    grant_types: list[str],
    public: bool,
) -> tuple[str, list[str], str, list[str]]:
    name = name.strip()
    if not name or len(name) > 120:
        raise ServiceError("Give the application a name (at most 120 characters).", "name")
    uris = clean_uris(redirect_uris, "redirect_uris")
    unknown = [s for s in scopes if s not in CATALOGUE]
    if unknown:
        raise ServiceError(f"Unknown scope: {', '.join(unknown)}.", "scopes")
    if not scopes:
        raise ServiceError("Choose at least one scope.", "scopes")
    bad = [g for g in grant_types if g not in GRANT_TYPES]
    if bad:
        raise ServiceError(f"Unsupported grant type: {', '.join(bad)}.", "grant_types")
    grants = [g for g in GRANT_TYPES if g in grant_types]
    if not grants:
        raise ServiceError("Choose at least one grant type.", "grant_types")
    if "refresh_token" in grants and not {"authorization_code", policy.DEVICE_CODE_GRANT} & set(
        grants
    ):
        raise ServiceError(
            "Refresh tokens come only with the authorization code or device code grant.",
            "grant_types",
        )
    if public and "client_credentials" in grants:
        raise ServiceError(
            "A public client has no secret, so it cannot use client credentials.", "grant_types"
        )
    if public and policy.TOKEN_EXCHANGE_GRANT in grants:
        raise ServiceError(
            "A public client has no secret, so it cannot exchange tokens.", "grant_types"
        )
    if "authorization_code" in grants and not uris:
        raise ServiceError("The authorization code grant needs a redirect URI.", "redirect_uris")
    return name, uris, join_scopes(scopes), grants


def authentication_fields(
    public: bool,
    auth_method: str | None,
    jwks: dict | None,
    jwks_uri: str | None,
) -> tuple[str, dict | None, str | None]:
    """The checked (method, jwks, jwks_uri) a client registers: a public client uses ``none``;
    ``private_key_jwt`` needs exactly one of public keys or their URL (RFC 7591 §2), and no
    other method takes either."""
    method = auth_method or (policy.PUBLIC_METHOD if public else policy.SECRET_METHODS[0])
    if (method == policy.PUBLIC_METHOD) != public:
        raise ServiceError(
            "A public client authenticates with 'none', a confidential one never does.",
            "token_endpoint_auth_method",
        )
    if method not in (*policy.CONFIDENTIAL_METHODS, policy.PUBLIC_METHOD):
        raise ServiceError(
            f"Unsupported token_endpoint_auth_method {method!r}.", "token_endpoint_auth_method"
        )
    if method != policy.PRIVATE_KEY_JWT:
        if jwks is not None or jwks_uri is not None:
            raise ServiceError(
                "Only private_key_jwt clients register keys (jwks, jwks_uri).", "jwks"
            )
        return method, None, None
    if (jwks is None) == (jwks_uri is None):
        raise ServiceError("private_key_jwt needs exactly one of jwks and jwks_uri.", "jwks")
    problem = (
        client_keys.jwks_problem(jwks)
        if jwks is not None
        else client_keys.jwks_uri_problem(jwks_uri or "")
    )
    if problem:
        raise ServiceError(problem, "jwks" if jwks is not None else "jwks_uri")
    return method, jwks, jwks_uri


def new_client_id() -> str:
    """144 random bits, URL-safe, never starting with ``-`` (a command line reads an option)."""
    while (client_id := new_secret(18)).startswith("-"):
        pass
    return client_id


def create_client(
    name: str,
    redirect_uris: list[str],
    scope: str,
    grant_types: list[str] | None = None,
    public: bool = False,
    owner: User | None = None,
    client_id: str | None = None,
    post_logout_redirect_uris: list[str] | None = None,
    can_introspect_any: bool = False,
    secret: str | None = None,
    verified: bool = False,
    actor: str | None = None,
    address: str | None = None,
    auth_method: str | None = None,
    jwks: dict | None = None,
    jwks_uri: str | None = None,
    require_pushed_authorization_requests: bool = False,
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
    dpop_bound_access_tokens: bool = False,
) -> tuple[Client, str | None]:
    """A new client and its secret (None for a public client): the only time it is readable.

    A ``client_secret_jwt`` client's secret is also kept sealed (``client_keys``): HS256 needs it.
    """
    grant_types = grant_types or ["authorization_code", "refresh_token"]
    name, uris, scope, grants = validate_registration(
        name, redirect_uris, scope_list(scope), grant_types, public
    )
    method, jwks, jwks_uri = authentication_fields(public, auth_method, jwks, jwks_uri)
    logout_uris = clean_uris(
        post_logout_redirect_uris or [], "post_logout_redirect_uris", "Post-logout redirect URI"
    )
    backchannel_uri, session_required = backchannel_fields(
        backchannel_logout_uri, backchannel_logout_session_required
    )
    # A key-pair client has no secret at all: nothing to leak, nothing to rotate.
    has_secret = not public and method != policy.PRIVATE_KEY_JWT
    secret = (secret or new_secret()) if has_secret else None
    client_id = client_id or new_client_id()
    sealed = (
        client_keys.seal_secret(client_id, secret)
        if method == policy.CLIENT_SECRET_JWT and secret
        else None
    )
    client = Client(
        client_id=client_id,
        # Secret clients keep None: either secret method works for them, as before.
        auth_method=method if method in policy.JWT_METHODS else None,
        jwks=jwks,
        jwks_uri=jwks_uri,
        sealed_secret=sealed,
        require_pushed_authorization_requests=require_pushed_authorization_requests,
        client_secret_hash=hash_secret(secret) if secret else None,
        name=name,
        owner=owner,
        redirect_uris=uris,
        scope=scope,
        grant_types=grants,
        is_public=public,
        post_logout_redirect_uris=logout_uris,
        backchannel_logout_uri=backchannel_uri,
        backchannel_logout_session_required=session_required,
        dpop_bound_access_tokens=dpop_bound_access_tokens,
        can_introspect_any=can_introspect_any,
        verified=verified,
    )
    db.session.add(client)
    db.session.flush()
    caches.bump(caches.CLIENTS)
    audit.record(
        "client.created",
        user=owner,
        client_id=client.client_id,
        actor=actor,
        address=address,
        public=public,
        verified=verified or None,
        auth_method=method,
    )
    return client, secret


def update_client(
    client: Client,
    name: str,
    redirect_uris: list[str],
    scope: str,
    grant_types: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    actor: str | None = None,
    address: str | None = None,
    backchannel: tuple[str | None, bool] | None = None,
    dpop_bound_access_tokens: bool | None = None,
) -> Client:
    """Replace what the developer may change. The operator vouched for the app people see: its
    name and where it sends them back. A new name or a changed set of redirect URIs is another
    app, so the "verified" mark goes with it (audited); scopes, grant types and post-logout
    URIs do not change who people are dealing with, so it stays."""
    if client.metadata_document:
        raise ServiceError(
            "This client is described by its metadata document; change the document instead."
        )
    name, uris, scope, grants = validate_registration(
        name, redirect_uris, scope_list(scope), grant_types, client.is_public
    )
    if post_logout_redirect_uris is not None:
        client.post_logout_redirect_uris = clean_uris(
            post_logout_redirect_uris, "post_logout_redirect_uris", "Post-logout redirect URI"
        )
    if dpop_bound_access_tokens is not None:  # RFC 9449 §5.2; None: unchanged
        client.dpop_bound_access_tokens = dpop_bound_access_tokens
    if backchannel is not None:  # (backchannel_logout_uri, backchannel_logout_session_required)
        client.backchannel_logout_uri, client.backchannel_logout_session_required = (
            backchannel_fields(*backchannel)
        )
    identity_changed = name != client.name or set(uris) != set(client.redirect_uris)
    verified_dropped = client.verified and identity_changed
    if verified_dropped:
        client.verified = False
    client.name, client.redirect_uris, client.scope, client.grant_types = name, uris, scope, grants
    caches.bump(caches.CLIENTS)
    audit.record(
        "client.changed",
        user=client.owner,
        client_id=client.client_id,
        actor=actor,
        address=address,
        verified_dropped=verified_dropped or None,
    )
    return client


def rotate_secret(
    client: Client,
    grace_seconds: int = 0,
    actor: str | None = None,
    address: str | None = None,
) -> str:
    """A new secret; the one it replaces keeps working for ``grace_seconds`` more (0: none).

    Only one previous secret is kept: rotating twice inside the grace period ends the first.
    """
    if client.is_public or client.token_endpoint_auth_method == policy.PRIVATE_KEY_JWT:
        raise ServiceError(
            "A public client has no secret."
            if client.is_public
            else "A private_key_jwt client has no secret: it rotates its own keys."
        )
    secret = new_secret()
    if client.token_endpoint_auth_method == policy.CLIENT_SECRET_JWT:
        # HS256 is checked with the current secret only: the grace period covers the hashed
        # secret (client_secret_basic/post), which this client does not use.
        client.sealed_secret = client_keys.seal_secret(client.client_id, secret)
    if grace_seconds > 0 and client.client_secret_hash is not None:
        client.previous_secret_hash = client.client_secret_hash
        client.previous_secret_expires_at = clock.now() + timedelta(seconds=grace_seconds)
    else:
        client.previous_secret_hash = client.previous_secret_expires_at = None
    client.client_secret_hash = hash_secret(secret)
    caches.bump(caches.CLIENTS)
    audit.record(
        "client.secret_rotated",
        user=client.owner,
        client_id=client.client_id,
        actor=actor,
        address=address,
        grace_seconds=max(grace_seconds, 0),
    )
    return secret


def previous_secret_expiry(client: Client) -> datetime | None:
    """When the previous secret stops working, if it still works; else None."""
    expires = client.previous_secret_expires_at
    if client.previous_secret_hash is None or expires is None or expires <= clock.now():
        return None
    return expires


def end_previous_secret(client: Client) -> bool:
    """The previous secret stops working now; True if it still worked until now."""
    was_live = previous_secret_expiry(client) is not None
    client.previous_secret_hash = client.previous_secret_expires_at = None
    caches.bump(caches.CLIENTS)
    return was_live


def verify_client(client: Client, actor: str = "operator") -> None:
    """The operator vouches for the app (CLI only): the consent page drops its warning.

    It vouches for the app as it is named and redirects now: ``update_client`` drops the mark
    when either changes."""
    client.verified = True
    caches.bump(caches.CLIENTS)
    audit.record("client.verified", client_id=client.client_id, actor=actor)


def delete_client(client: Client, actor: str | None = None, address: str | None = None) -> None:
    """Delete the client; its codes, consents and tokens go with it (ON DELETE CASCADE)."""
    audit.record(
        "client.deleted",
        user=client.owner,
        client_id=client.client_id,
        actor=actor,
        address=address,
        name=client.name,
    )
    db.session.delete(client)
    caches.bump(caches.CLIENTS)


def find_client(client_id: str | None) -> Client | None:
    """The client registered as ``client_id``; None for anything no client could be called.

    Checked before the query because PostgreSQL refuses a NUL byte in a string outright.
    """
    if not isinstance(client_id, str) or not client_id:
        return None
    if len(client_id) > policy.CLIENT_ID_MAX_LENGTH:
        return None
    if not client_id.isprintable():
        return None
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def disabled_and_proven(client_id: str, secret: str, method: str) -> bool:
    """Whether ``client_id`` names a disabled client and ``secret``, sent the way it registered
    (``method``: ``client_secret_basic`` or ``client_secret_post``), is its secret.

    Only then is a refused client told that it is disabled: whoever lacks its secret learns
    nothing (neither that the client exists nor that it is disabled), and a public client or
    one that signs assertions is never told (nothing it sends proves it is that client).
    """
    if not secret or method not in ("client_secret_basic", "client_secret_post"):
        return False
    client = find_client(client_id)
    if client is None or client.disabled_at is None:
        return False
    if client.token_endpoint_auth_method != method:
        return False
    return client.check_client_secret(secret)


def find_by_registration_token(token: str | None) -> Client | None:
    """The client an RFC 7592 registration access token manages (stored only as a hash)."""
    if not token or len(token) > 200:
        return None
    return db.session.scalar(
        select(Client).where(Client.registration_token_hash == hash_secret(token))
    )


def issue_registration_token(client: Client) -> str:
    """A new RFC 7592 registration access token for ``client``: shown once, kept as a hash."""
    token = new_secret(32)
    client.registration_token_hash = hash_secret(token)
    return token


def all_clients() -> list[Client]:
    return list(db.session.scalars(select(Client).order_by(Client.created_at, Client.id)))


def clients_of(owner: User) -> list[Client]:
    return list(
        db.session.scalars(
            select(Client).where(Client.owner_id == owner.id).order_by(Client.created_at)
        )
    )


def owned_client(owner: User, client_id: str) -> Client | None:
    """The client only if ``owner`` registered it: another developer's client is not found."""
    client = find_client(client_id)
    if client is None or client.owner_id != owner.id:
        return None
    return client


# --- which browser origins may read the token, UserInfo and revocation answers -----------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(uri: str) -> str | None:
    """The web origin (``scheme://host[:port]``, RFC 6454) of an http(s) URI, as browsers send
    it in ``Origin``: lower-case scheme and host, no default port; None if it has none."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def allowed_origins(client: Client) -> frozenset[str]:
    """SPEC: the origins of the client's registered redirect URIs, and no other."""
    return frozenset(o for o in map(origin_of, client.redirect_uris or ()) if o)


def registered_origins() -> frozenset[str]:
    """The origins of every client's redirect URIs, for CORS preflights (which carry no body,
    so no client): kept per process and dropped whenever any client changes. The key is a
    tuple, so no client_id (always a string) can ever name this entry."""

    def load() -> frozenset[str]:
        found: set[str] = set()
        for uris in db.session.scalars(select(Client.redirect_uris)):
            found.update(o for o in map(origin_of, uris or ()) if o)
        return frozenset(found)

    return caches.cached(caches.CLIENTS, ("cors", "registered-origins"), load) or frozenset()
