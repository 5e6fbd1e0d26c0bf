from .audit import AuditEvent
from .base import Base
from .cache_version import CacheVersion
from .client import Client, ClientResource, MetadataDocumentFailure
from .device import DeviceAuthorization
from .factor import Passkey, RecoveryCode, TotpCredential
from .grant import AuthorizationCode, Consent
from .link import OneTimeLink
from .outbox import OutboxMessage
from .pushed_request import PushedRequest
from .session import UserSession
from .signing_key import SigningKey
from .throttle import RateLimitCounter
from .token import AccessToken, RefreshToken, TokenFamily
from .user import User

__all__ = [
    "AccessToken",
    "AuditEvent",
    "AuthorizationCode",
    "CacheVersion",
    "Base",
    "Client",
    "ClientResource",
    "Consent",
    "MetadataDocumentFailure",
    "OneTimeLink",
    "OutboxMessage",
    "DeviceAuthorization",
    "Passkey",
    "PushedRequest",
    "RateLimitCounter",
    "RecoveryCode",
    "RefreshToken",
    "SigningKey",
    "TokenFamily",
    "TotpCredential",
    "User",
    "UserSession",
]
