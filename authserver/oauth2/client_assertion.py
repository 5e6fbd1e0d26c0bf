"""JWT client authentication (RFC 7523 §2.2, OIDC Core §9) on Authlib's
``JWTBearerClientAssertion``, through its hooks: ``get_audiences``, ``resolve_client_public_key``,
``verify_claims``, ``validate_jti`` and ``process_assertion_claims``.

The rules are ``policy.assertion_problem`` (claims) and ``policy.ASSERTION_ALGORITHMS``; the keys
come from ``services/client_keys.py``; a ``jti`` is single-use over every worker and node
(``ratelimit.claim_window``: a shared row per assertion, kept until it expires, then removed by
cleanup).
"""

from __future__ import annotations

import hashlib

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError

from .. import clock, policy
from ..models import Client
from ..ratelimit import claim_window
from ..services import client_keys


def _bad(description: str) -> InvalidClientError:
    return InvalidClientError(status_code=401, description=description)


class _ClientAssertion(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD: str

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=policy.ASSERTION_LEEWAY)

    # Authlib tries each registered method in turn, and this one would refuse (not pass on) an
    # assertion of a client registered for the other JWT method; no hook runs before that.
    def __call__(self, query_client, request):
        assertion = request.form.get("client_assertion")
        if request.form.get("client_assertion_type") != self.CLIENT_ASSERTION_TYPE or not assertion:
            return None
        _, claims = self.extract_assertion(assertion)
        sub = claims.get("sub")
        client = query_client(sub) if isinstance(sub, str) else None
        other = [m for m in policy.JWT_METHODS if m != self.CLIENT_AUTH_METHOD]
        if client is not None and client.token_endpoint_auth_method in other:
            return None
        return super().__call__(query_client, request)

    def get_audiences(self) -> list[str]:
        # RFC 7523 §3 and RFC 9126 §2: the issuer, the token endpoint or the endpoint called.
        issuer = current_app.config["ISSUER"]
        return [issuer, f"{issuer}/oauth/token", f"{issuer}{flask_request.path}"]

    # Overridden to pass the method's algorithms: Authlib lets joserfc choose among its
    # "recommended" ones, which would refuse EdDSA and admit HS256 for a key-pair client.
    def process_assertion_claims(self, assertion, resolve_key):
        try:
            token = jwt.decode(
                assertion, resolve_key, algorithms=policy.ASSERTION_ALGORITHMS[self.method]
            )
        except JoseError as error:
            raise _bad(f"The assertion does not verify: {error.error}.") from error
        except ValueError as error:  # joserfc: a key that fits no algorithm
            raise _bad("The assertion does not verify.") from error
        self.verify_claims(token.claims)
        return token.claims

    @property
    def method(self) -> str:
        return self.CLIENT_AUTH_METHOD

    def verify_claims(self, claims) -> None:
        # Ours rather than joserfc's registry: the rule reads the server's clock (CLOCK).
        client_id = claims.get("sub")
        problem = policy.assertion_problem(
            claims,
            client_id if isinstance(client_id, str) else "",
            self.get_audiences(),
            clock.now(),
        )
        if problem:
            raise _bad(problem)
        named = flask_request.form.get("client_id")
        if named is not None and named != client_id:
            raise _bad("client_id differs from the assertion's sub.")
        if not self.validate_jti(claims, claims["jti"]):
            raise _bad("The assertion was used before (jti).")

    def validate_jti(self, claims, jti) -> bool:
        digest = hashlib.sha256(f"{claims['sub']}\0{jti}".encode()).hexdigest()
        # Kept until the assertion could no longer pass the exp check.
        seconds = claims["exp"] + policy.ASSERTION_LEEWAY - clock.now().timestamp() + 1
        return claim_window(f"assertion:{digest}", max(seconds, 1))


class PrivateKeyJWT(_ClientAssertion):
    CLIENT_AUTH_METHOD = policy.PRIVATE_KEY_JWT

    def resolve_client_public_key(self, client: Client):
        if client.token_endpoint_auth_method != self.CLIENT_AUTH_METHOD:
            raise _bad("This client is not registered for private_key_jwt.")

        def key_for(token):  # joserfc asks with the token, whose header names kid and alg
            try:
                return client_keys.assertion_key(client, token.headers())
            except client_keys.KeyProblem as error:
                raise _bad(str(error)) from None

        return key_for


class ClientSecretJWT(_ClientAssertion):
    CLIENT_AUTH_METHOD = policy.CLIENT_SECRET_JWT

    def resolve_client_public_key(self, client: Client):
        if client.token_endpoint_auth_method != self.CLIENT_AUTH_METHOD:
            raise _bad("This client is not registered for client_secret_jwt.")
        try:
            return client_keys.secret_key(client)
        except client_keys.KeyProblem as error:
            raise _bad(str(error)) from None
