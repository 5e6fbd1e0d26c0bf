"""The tokens the MCP server accepts: JWT access tokens (RFC 9068) from the configured issuer,
signed with a key its JWKS publishes, whose ``aud`` names this server's URL.

Plugged into the SDK as its ``TokenVerifier``: a token this refuses makes the SDK answer 401
with ``WWW-Authenticate: Bearer ..., resource_metadata=...`` (RFC 9728 §5.1).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from mcp.server.auth.provider import AccessToken

from .config import Settings
from .issuer import Issuer, IssuerUnavailable

log = logging.getLogger(__name__)

#: RFC 9068 §4: typ is "at+jwt", or the same media type written out in full.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


class JwtAccessTokenVerifier:
    """The SDK's ``TokenVerifier`` (``mcp.server.auth.provider``) for RFC 9068 tokens."""

    def __init__(
        self, settings: Settings, issuer: Issuer, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.issuer = issuer
        self.clock = clock

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's facts, or None (the SDK's 401) for anything that is not a live access
        token from our issuer for this server. Why is logged, never the token."""
        try:
            header = jws.extract_compact(token.encode()).headers()  # unverified: to pick the key
        except (JoseError, ValueError):
            return None
        if header.get("alg") != "RS256":
            # Decided before any key is touched (RFC 8725 §3.1): no "none", no HS256.
            return None
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            log.info("refused a token that is not a JWT access token (typ %r)", typ)
            return None
        kid = header.get("kid")
        try:
            keys = await self.issuer.key_set(kid if isinstance(kid, str) else None)
            decoded = jwt.decode(token, keys, algorithms=["RS256"])
        except IssuerUnavailable as error:
            log.warning("cannot verify tokens: %s", error)
            return None
        except (JoseError, ValueError):
            return None
        claims = decoded.claims
        registry = JWTClaimsRegistry(
            now=lambda: int(self.clock()),
            leeway=self.settings.token_leeway,
            iss={"essential": True, "value": self.settings.issuer},
            # RFC 9068 §4: the resource server MUST check that aud names it.
            aud={"essential": True, "value": self.settings.url},
            exp={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            log.info("refused an access token: %s", error.description or error.error)
            return None
        scope = claims.get("scope", "")
        if not isinstance(scope, str) or not isinstance(claims["client_id"], str):
            return None
        return AccessToken(
            token=token,
            client_id=claims["client_id"],
            scopes=scope.split(),
            expires_at=int(claims["exp"]),
            # Checked above to include this server; the SDK compares it once more.
            resource=self.settings.url,
            subject=str(claims["sub"]),
            claims={"iss": claims["iss"]},
        )
