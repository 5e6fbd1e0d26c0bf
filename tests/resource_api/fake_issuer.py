"""A stand-in for the authorization server: discovery, a JWKS the test controls, and an RFC 7662
introspection endpoint whose answers the test flips. Paths and metadata are those of the real
server (SPEC: Authorization server endpoints)."""

from __future__ import annotations

import base64
import time
from typing import Any

from flask import Flask, jsonify, request
from joserfc.jwk import Key

INTROSPECTION_CLIENT_ID = "resource-api"
INTROSPECTION_CLIENT_SECRET = "introspection-secret"


class FakeIssuer:
    def __init__(self, issuer: str, published: list[Key]) -> None:
        self.issuer = issuer
        #: The keys the JWKS lists; tests append (rotation) or remove (withdrawal) keys.
        self.published = list(published)
        #: Extra raw JWKS entries, for keys the API must skip.
        self.extra_jwks_entries: list[dict[str, Any]] = []
        #: Tokens the issuer considers revoked.
        self.revoked: set[str] = set()
        #: Seconds the JWKS endpoint takes to answer, to widen race windows in concurrency tests.
        self.jwks_latency = 0.0
        #: Overrides of the discovery document (e.g. a wrong "issuer").
        self.metadata_overrides: dict[str, Any] = {}
        self.app = self._build_app()

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/oauth/authorize",
            "token_endpoint": f"{self.issuer}/oauth/token",
            "jwks_uri": f"{self.issuer}/oauth/jwks",
            "introspection_endpoint": f"{self.issuer}/oauth/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            **self.metadata_overrides,
        }

    def _build_app(self) -> Flask:
        app = Flask("fake_issuer")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(self.metadata())

        @app.get("/oauth/jwks")
        def jwks() -> Any:
            time.sleep(self.jwks_latency)
            keys = [key.as_dict(private=False) for key in self.published]
            return jsonify({"keys": keys + self.extra_jwks_entries})

        @app.post("/oauth/introspect")
        def introspect() -> Any:
            expected = f"{INTROSPECTION_CLIENT_ID}:{INTROSPECTION_CLIENT_SECRET}"
            basic = "Basic " + base64.b64encode(expected.encode()).decode()
            if request.headers.get("Authorization") != basic:
                return jsonify({"error": "invalid_client"}), 401
            token = request.form.get("token", "")
            # RFC 7662 §2.2: an inactive token gets {"active": false} and nothing else.
            if not token or token in self.revoked:
                return jsonify({"active": False})
            return jsonify({"active": True, "token_type": "access_token"})

        return app
