"""OpenID Connect on the code grant: nonce checks and the ID token in the token response."""

from __future__ import annotations

from authlib.oidc.core import grants as oidc_grants
from sqlalchemy import select

from ..extensions import db
from ..models import AuthorizationCode
from ..services.clients import find_client
from ..services.oidc import make_id_token
from .scopes import scope_list


class OpenIDCode(oidc_grants.OpenIDCode):
    def exists_nonce(self, nonce: str, request) -> bool:  # noqa: ANN001
        """A nonce seen before with this client is a replayed request (OIDC Core §3.1.2.1)."""
        client = find_client(request.payload.client_id)
        if client is None:
            return False
        return (
            db.session.scalar(
                select(AuthorizationCode.id).where(
                    AuthorizationCode.client_id == client.id, AuthorizationCode.nonce == nonce
                )
            )
            is not None
        )

    def process_token(self, grant, response):  # noqa: ANN001, ANN201
        _, token, _ = response
        scopes = scope_list(token.get("scope"))
        if "openid" not in scopes:
            return token
        code: AuthorizationCode = grant.request.authorization_code
        token["id_token"] = make_id_token(
            client=grant.request.client,
            user=code.user,
            scopes=scopes,
            auth_time=code.auth_time,
            nonce=code.nonce,
            access_token=token["access_token"],
            session_id=code.session_id,
        )
        return token
