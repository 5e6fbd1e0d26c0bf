"""OpenID Connect on the code grant: Authlib's ``OpenIDCode`` builds the ID token (nonce,
auth_time and at_hash included); these hooks say with which key and claims."""

from __future__ import annotations

from authlib.oidc.core import grants as oidc_grants
from flask import current_app
from joserfc.jwk import RSAKey

from .. import clock, policy
from ..models import Client
from ..scopes import scope_list
from ..security.signing import ALGORITHM
from ..services import codes
from ..services.claims import user_claims
from ..services.clients import find_client
from ..services.keys import active_key, private_key
from .storage import Grantor


class OpenIDCode(oidc_grants.OpenIDCode):
    def exists_nonce(self, nonce: str, request) -> bool:
        """A nonce seen before with this client is a replayed request (OIDC Core §3.1.2.1)."""
        client = find_client(request.payload.client_id)
        return client is not None and codes.nonce_used(client, nonce)

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return private_key(active_key())  # decrypted and parsed once per process

    def get_client_algorithm(self, client: Client) -> str:
        return ALGORITHM

    def get_encode_header(self, client: Client) -> dict:
        return {"alg": ALGORITHM, "typ": "JWT", "kid": active_key().kid}

    def get_client_claims(self, client: Client) -> dict:
        issued = int(clock.now().timestamp())
        life = policy.lifetimes(current_app.config)
        return {
            "iss": current_app.config["ISSUER"],
            "aud": client.client_id,
            # azp: the party the token was issued to (OIDC Core §2); equal to aud here.
            "azp": client.client_id,
            "iat": issued,
            "exp": issued + life.id_token,
        }

    def generate_user_info(self, user: Grantor, scope: str) -> dict:
        claims = user_claims(user.user, scope_list(scope))
        if user.session_id:
            # The login session, for front- and back-channel logout (OIDC Session §2.1).
            claims["sid"] = user.session_id
        return claims
