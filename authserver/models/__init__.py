from .audit import AuditEvent
from .base import Base
from .cache_version import CacheVersion
from .client import Client
from .factor import Passkey, RecoveryCode, TotpCredential
from .grant import AuthorizationCode, Consent
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
    "Consent",
    "Passkey",
    "RateLimitCounter",
    "RecoveryCode",
    "RefreshToken",
    "SigningKey",
    "TokenFamily",
    "TotpCredential",
    "User",
    "UserSession",
]
