from .audit import AuditEvent
from .base import Base
from .cache_version import CacheVersion
from .client import Client
from .grant import AuthorizationCode, Consent
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
    "Consent",
    "PushedRequest",
    "RateLimitCounter",
    "RefreshToken",
    "SigningKey",
    "TokenFamily",
    "User",
    "UserSession",
]
