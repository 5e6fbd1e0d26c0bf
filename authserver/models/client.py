from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock, policy
from ..scopes import scope_list
from ..security.secrets import verify_secret
from .base import Base, UTCDateTime
from .user import User

#: Compared against when a hash is absent, so every check costs the same; no input hashes to it.
_NO_HASH = "-" * 64


class Client(Base):
    """A registered application, in the shape Authlib's ``ClientMixin`` expects."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Wide enough for a Client ID Metadata Document's URL (``policy.CLIENT_ID_MAX_LENGTH``).
    client_id: Mapped[str] = mapped_column(String(policy.CLIENT_ID_MAX_LENGTH), unique=True)
    #: SHA-256 of the secret; None for public clients.
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(String(500), default="")
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Set for clients created through RFC 7591; hash of the registration access token.
    registration_token_hash: Mapped[str | None] = mapped_column(String(64))
    #: May introspect any token (a resource server), not only its own (RFC 7662 §2.1).
    can_introspect_any: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The operator vouches for this app (CLI only; the console never sets it). The consent
    #: page marks self-service apps that are not verified.
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    #: After a rotation the previous secret keeps working until this time (a grace period, so
    #: a deployment can switch over without an outage); both None when there is none.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set by the operator (``clients disable``): the client cannot authenticate nor start an
    #: authorization while it is set; its tokens were revoked when it was disabled.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The registered ``token_endpoint_auth_method`` (RFC 7591 §2); None for clients registered
    #: before it was kept, whose method follows from ``is_public``.
    auth_method: Mapped[str | None] = mapped_column(String(32))
    #: ``private_key_jwt``: the client's public keys, inline (``jwks``) or by URL (``jwks_uri``,
    #: fetched through ``security/outbound.py``); never both (RFC 7591 §2).
    jwks: Mapped[dict | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    #: ``client_secret_jwt``: the secret itself, encrypted under the key-encryption key
    #: (``security/key_wrapping.py``), since HS256 cannot be checked against a hash. Only
    #: clients registered with that method have one.
    sealed_secret: Mapped[str | None] = mapped_column(Text)
    #: Its authorization requests must come through PAR (RFC 9126 §6).
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    #: OpenID Connect Back-Channel Logout 1.0 §2.2: where a signed logout token is POSTed when
    #: a person ends a session in which they signed in to this client; None: not told.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    #: The client wants ``sid`` in every logout token (it is always sent here).
    backchannel_logout_session_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    #: RFC 9449 §5.2: every token request must carry a DPoP proof, so each access token is
    #: bound to the client's key (``dpop_bound_access_tokens`` in RFC 7591 metadata).
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    #: Its client_id is the URL of a Client ID Metadata Document, which says what it is: the row
    #: is made and refreshed from the document (``services/metadata_documents.py``), never
    #: edited by hand; consent, tokens and revocation hold to it like to any other client.
    metadata_document: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    #: When the document was last fetched, and until when that copy is trusted (its HTTP
    #: caching headers, within ``policy.METADATA_CACHE_MIN``..``METADATA_CACHE_MAX``).
    metadata_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    metadata_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The document's ``client_uri`` (an https page on the document's own host), shown as text.
    client_uri: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    owner: Mapped[User | None] = relationship()

    # --- Authlib ClientMixin ---
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 §3.1.2.3: the URI may be omitted only when exactly one is registered.
        if len(self.redirect_uris) == 1:
            return self.redirect_uris[0]
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if not scope:
            return None
        allowed = set(scope_list(self.scope))
        requested = scope_list(scope)
        if not set(requested) <= allowed:
            return None
        return " ".join(requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # SPEC: exact string match; no prefix, case or query leniency (RFC 9700 §4.1.3).
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """The current secret, or the previous one inside its grace period.

        Both comparisons always run, each in constant time, so the answer's timing tells
        nothing about which secret (if any) matched.
        """
        current = verify_secret(client_secret, self.client_secret_hash or _NO_HASH)
        previous = verify_secret(client_secret, self.previous_secret_hash or _NO_HASH)
        previous_live = (
            self.previous_secret_expires_at is not None
            and clock.now() < self.previous_secret_expires_at
        )
        return (current and self.client_secret_hash is not None) or (
            previous and previous_live and self.previous_secret_hash is not None
        )

    @property
    def self_service(self) -> bool:
        """Registered by a developer (console), through RFC 7591 or by a metadata document,
        not by the operator."""
        return (
            self.owner_id is not None
            or self.registration_token_hash is not None
            or self.metadata_document
        )

    @property
    def document_host(self) -> str | None:
        """The host (and port) a metadata document's client came from, None for others: the
        one thing about such an app this server has checked, as pages name it."""
        if not self.metadata_document:
            return None
        parts = urlsplit(self.client_id)
        host = parts.hostname or self.client_id
        return f"{host}:{parts.port}" if parts.port else host

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return policy.client_may_use(self.token_endpoint_auth_method, method, endpoint)

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    @property
    def client_metadata(self) -> dict:
        """RFC 7591 §2 metadata, as Authlib's registration and logout endpoints read it."""
        keys: dict = {}
        if self.jwks is not None:
            keys["jwks"] = self.jwks
        if self.jwks_uri is not None:
            keys["jwks_uri"] = self.jwks_uri
        if self.require_pushed_authorization_requests:
            keys["require_pushed_authorization_requests"] = True
        if self.backchannel_logout_uri is not None:
            keys["backchannel_logout_uri"] = self.backchannel_logout_uri
            keys["backchannel_logout_session_required"] = self.backchannel_logout_session_required
        if self.dpop_bound_access_tokens:
            keys["dpop_bound_access_tokens"] = True
        return keys | {
            "client_name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "grant_types": list(self.grant_types),
            "response_types": ["code"] if "authorization_code" in self.grant_types else [],
            "scope": self.scope,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }

    @property
    def token_endpoint_auth_method(self) -> str:
        if self.auth_method is not None:
            return self.auth_method
        return policy.PUBLIC_METHOD if self.is_public else policy.SECRET_METHODS[0]


class ClientResource(Base):
    """A resource (RFC 8707) registered to a client (``clients create --resource URI``): tokens
    may be issued for it, and the client, as that resource, may exchange tokens sent to it."""

    __tablename__ = "client_resources"
    __table_args__ = (UniqueConstraint("client_id", "uri"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    uri: Mapped[str] = mapped_column(String(500), index=True)

    client: Mapped[Client] = relationship()


class MetadataDocumentFailure(Base):
    """A Client ID Metadata Document that could not be had or was refused, remembered for
    ``policy.METADATA_FAILURE_CACHE`` seconds over every worker and node, so a broken or hostile
    URL is not fetched again at each request. Keyed by the URL's SHA-256 (URLs are long)."""

    __tablename__ = "metadata_document_failures"

    url_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(300))
    retry_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
