from .base import Base, utcnow
from .client import Client
from .grant import AuthorizationCode, Consent
from .signing_key import SigningKey
from .token import AccessToken, RefreshToken, TokenFamily
from .user import User

__all__ = [
    "AccessToken",
    "AuthorizationCode",
    "Base",
    "Client",
    "Consent",
    "RefreshToken",
    "SigningKey",
    "TokenFamily",
    "User",
    "utcnow",
]
