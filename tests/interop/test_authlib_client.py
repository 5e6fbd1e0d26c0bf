"""Complete OpenID Connect flows driven by Authlib's client, a third-party relying-party library,
validating every response by its own rules, with no special-casing for this server.

Two ways Authlib offers:
- ``authlib.integrations.requests_client.OAuth2Session`` driven step by step (discovery, PKCE
  S256, state, nonce), the ID token checked with ``authlib.oidc.core.CodeIDToken`` against the
  JWKS exactly as Authlib's own ``parse_id_token`` does;
- Authlib's Flask relying-party integration (``authlib.integrations.flask_client.OAuth``), which
  does discovery, PKCE, state, nonce and ID token validation by itself, plus RP-initiated logout.

The requests go to the real server in-process (tests/wsgi_transport.py), as over the network.
"""

from __future__ import annotations

import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.integrations.flask_client.apps import FlaskOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc import rpinitiated
from authlib.oidc.core import CodeIDToken, UserInfo
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import Flask, jsonify, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from authserver.extensions import db
from authserver.services.clients import create_client
from tests import factories
from tests.factories import ClientInfo
from tests.helpers import consent, query_of
from tests.wsgi_transport import session_for

ISSUER = "http://127.0.0.1:5000"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
BYE = "https://app.example.com/bye"


# --- a relying party built from Authlib's parts --------------------------------------------------


class RelyingParty:
    """What an application does with Authlib's OAuth2Session, step by step."""

    def __init__(self, auth_app: Flask, app_client: ClientInfo, scope: str) -> None:
        self.app_client = app_client
        http = session_for(auth_app)
        raw = http.get(DISCOVERY)
        raw.raise_for_status()
        self.metadata = OpenIDProviderMetadata(raw.json())
        self.metadata.validate(metadata_classes=[rpinitiated.OpenIDProviderMetadata])
        assert self.metadata["issuer"] == ISSUER  # Discovery §4.3: the issuer we asked
        rfc8414 = http.get(f"{ISSUER}/.well-known/oauth-authorization-server").json()
        AuthorizationServerMetadata(rfc8414).validate()
        self.client = OAuth2Session(
            client_id=app_client.client_id,
            client_secret=app_client.secret,
            scope=scope,
            redirect_uri=app_client.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if app_client.secret else "none",
        )
        session_for(auth_app, self.client)
        self.nonce = self.state = self.code_verifier = None

    def authorization_url(self, **params: str) -> str:
        self.code_verifier = generate_token(48)
        self.nonce = generate_token(20)
        url, self.state = self.client.create_authorization_url(
            self.metadata["authorization_endpoint"],
            code_verifier=self.code_verifier,
            nonce=self.nonce,
            **params,
        )
        return url

    def check_callback(self, callback: str) -> dict[str, str]:
        """RFC 9207 §2.4: the client MUST compare iss with the issuer it expects."""
        assert callback.startswith(self.app_client.redirect_uri + "?"), callback
        query = query_of(callback)
        assert self.metadata["authorization_response_iss_parameter_supported"] is True
        assert query["iss"] == self.metadata["issuer"]
        return query

    def fetch_token(self, callback: str) -> dict:
        self.check_callback(callback)
        token = self.client.fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=callback,
            state=self.state,  # Authlib raises MismatchingStateException on a mismatch
            code_verifier=self.code_verifier,
        )
        assert token["token_type"].lower() == "bearer"
        return token

    def jwks(self) -> KeySet:
        response = self.client.get(self.metadata["jwks_uri"], withhold_token=True)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())

    def validate_id_token(self, token: dict) -> CodeIDToken:
        """As ``authlib.integrations.base_client.OpenIDMixin.parse_id_token`` does it."""
        registry = JWSRegistry(
            algorithms=self.metadata["id_token_signing_alg_values_supported"],
            strict_check_header=False,
        )
        decoded = jwt.decode(token["id_token"], key=self.jwks(), registry=registry)
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"values": [self.metadata["issuer"]]}},
            {
                "nonce": self.nonce,
                "client_id": self.app_client.client_id,
                "access_token": token["access_token"],
            },
        )
        claims.validate(leeway=120)
        return claims

    def userinfo(self) -> UserInfo:
        response = self.client.get(self.metadata["userinfo_endpoint"])
        response.raise_for_status()
        return UserInfo(response.json())

    def introspect(self, token: str, hint: str | None = None) -> dict:
        response = self.client.introspect_token(
            self.metadata["introspection_endpoint"], token=token, token_type_hint=hint
        )
        response.raise_for_status()
        return response.json()


def browse(browser, url: str) -> str:
    """The user agent's part: the logged-in user consents; the callback URL it is sent to."""
    assert url.startswith(ISSUER + "/")
    response = consent(browser, url.removeprefix(ISSUER))
    assert response.status_code == 302, response.data
    return response.headers["Location"]


@pytest.fixture
def rp_client(app) -> ClientInfo:
    """A confidential client with a registered post-logout redirect URI."""
    with app.app_context():
        client, secret = create_client(
            name="Authlib RP",
            redirect_uris=[factories.REDIRECT_URI],
            scope=factories.ALL_SCOPES,
            post_logout_redirect_uris=[BYE],
        )
        db.session.commit()
        return ClientInfo(client.id, client.client_id, secret, factories.REDIRECT_URI, "")


# --- OAuth2Session, step by step -----------------------------------------------------------------


def test_full_flow_with_authlib_oauth2session(app, logged_in, user, rp_client):
    """discovery → authorize (PKCE S256, state, nonce) → token → id_token validation → userinfo
    → refresh → revoke → introspect."""
    rp = RelyingParty(app, rp_client, "openid profile email offline_access")
    callback = browse(logged_in, rp.authorization_url())
    token = rp.fetch_token(callback)
    assert token["expires_in"] > 0 and token["refresh_token"]

    claims = rp.validate_id_token(token)
    assert claims["sub"] == user.subject
    assert claims["auth_time"] <= claims["iat"]
    assert claims["azp"] == rp_client.client_id

    info = rp.userinfo()
    assert info["sub"] == claims["sub"]  # Core §5.3.2
    assert info["email"] == user.email and info["name"] == user.name

    refreshed = rp.client.refresh_token(rp.metadata["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert rp.userinfo()["sub"] == user.subject  # the session now uses the new token

    assert rp.introspect(refreshed["access_token"])["active"] is True
    revoked = rp.client.revoke_token(
        rp.metadata["revocation_endpoint"],
        token=refreshed["refresh_token"],
        token_type_hint="refresh_token",
    )
    assert revoked.status_code == 200
    assert rp.introspect(refreshed["refresh_token"], "refresh_token") == {"active": False}
    assert rp.introspect(refreshed["access_token"], "access_token") == {"active": False}
    with pytest.raises(OAuthError) as error:
        rp.client.refresh_token(
            rp.metadata["token_endpoint"], refresh_token=refreshed["refresh_token"]
        )
    assert error.value.error == "invalid_grant"


def test_full_flow_for_a_public_client(app, logged_in, user, public_client):
    """A public client: token_endpoint_auth_method "none", PKCE required (SPEC)."""
    rp = RelyingParty(app, public_client, "openid profile offline_access")
    token = rp.fetch_token(browse(logged_in, rp.authorization_url()))
    assert rp.validate_id_token(token)["sub"] == user.subject
    assert rp.userinfo()["sub"] == user.subject
    refreshed = rp.client.refresh_token(rp.metadata["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    revoked = rp.client.revoke_token(
        rp.metadata["revocation_endpoint"], token=refreshed["refresh_token"]
    )
    assert revoked.status_code == 200
    with pytest.raises(OAuthError) as error:
        rp.client.refresh_token(rp.metadata["token_endpoint"])
    assert error.value.error == "invalid_grant"


def test_id_token_signed_before_a_key_rotation_still_validates(app, logged_in, rp_client):
    """SPEC: keys rotate; the RP refetches the JWKS and still validates the earlier token."""
    rp = RelyingParty(app, rp_client, "openid")
    token = rp.fetch_token(browse(logged_in, rp.authorization_url()))
    assert app.test_cli_runner().invoke(args=["keys", "rotate"]).exit_code == 0
    rp.validate_id_token(token)


def test_authlib_rejects_an_id_token_from_another_request(app, logged_in, rp_client):
    """The same validation that passes above fails for a nonce this request did not send
    (Core §3.1.3.7 (11)): the checks are live."""
    rp = RelyingParty(app, rp_client, "openid")
    token = rp.fetch_token(browse(logged_in, rp.authorization_url()))
    rp.nonce = "a-different-nonce"
    with pytest.raises(JoseError):
        rp.validate_id_token(token)


def test_authlib_sees_a_replayed_code_as_invalid_grant(app, logged_in, rp_client):
    rp = RelyingParty(app, rp_client, "openid")
    callback = browse(logged_in, rp.authorization_url())
    rp.fetch_token(callback)
    with pytest.raises(OAuthError) as error:
        rp.fetch_token(callback)
    assert error.value.error == "invalid_grant"


def test_authlib_sees_a_wrong_secret_as_invalid_client(app, logged_in, rp_client):
    rp = RelyingParty(app, rp_client, "openid")
    callback = browse(logged_in, rp.authorization_url())
    rp.client.client_secret = "not-the-secret"
    with pytest.raises(OAuthError) as error:
        rp.fetch_token(callback)
    assert error.value.error == "invalid_client"


def test_authlib_sees_a_wrong_code_verifier_as_invalid_grant(app, logged_in, rp_client):
    """RFC 7636 §4.6: a verifier that does not match is invalid_grant."""
    rp = RelyingParty(app, rp_client, "openid")
    callback = browse(logged_in, rp.authorization_url())
    rp.code_verifier = generate_token(48)
    with pytest.raises(OAuthError) as error:
        rp.fetch_token(callback)
    assert error.value.error == "invalid_grant"


def test_authlib_sees_prompt_none_errors_with_iss(app, client, user, rp_client):
    """prompt=none without a session: login_required, with state and iss (Core §3.1.2.6, RFC
    9207)."""
    rp = RelyingParty(app, rp_client, "openid")
    url = rp.authorization_url(prompt="none")
    response = client.get(url.removeprefix(ISSUER))
    query = rp.check_callback(response.headers["Location"])
    assert query["error"] == "login_required"
    assert query["state"] == rp.state


def test_authlib_sees_an_unregistered_scope_as_invalid_scope(app, logged_in, user):
    with app.app_context():
        narrow = factories.make_client(owner_email=user.email, scope="openid profile")
    rp = RelyingParty(app, narrow, "openid events:write")
    response = logged_in.get(rp.authorization_url().removeprefix(ISSUER))
    query = rp.check_callback(response.headers["Location"])
    assert query["error"] == "invalid_scope"
    assert query["state"] == rp.state


def test_authlib_sees_a_missing_code_verifier_as_invalid_request(app, logged_in, rp_client):
    """RFC 7636 §4.4.1 and SPEC: a challenge was sent, so the verifier is required —
    invalid_request (RFC 6749 §5.2, a missing required parameter)."""
    rp = RelyingParty(app, rp_client, "openid")
    callback = browse(logged_in, rp.authorization_url())
    rp.check_callback(callback)
    with pytest.raises(OAuthError) as error:
        rp.client.fetch_token(
            rp.metadata["token_endpoint"], authorization_response=callback, state=rp.state
        )
    assert error.value.error == "invalid_request"


def test_authlib_sees_an_unoffered_grant_as_unauthorized_client(app, rp_client):
    """unauthorized_client: The authenticated client is not authorized to use this
    authorization grant type — RFC 6749 §5.2 (this client did not register
    client_credentials)."""
    rp = RelyingParty(app, rp_client, "events:read")
    with pytest.raises(OAuthError) as error:
        rp.client.fetch_token(rp.metadata["token_endpoint"], grant_type="client_credentials")
    assert error.value.error == "unauthorized_client"


def test_authlib_sees_the_password_grant_as_unsupported_grant_type(app, rp_client, user):
    """unsupported_grant_type — RFC 6749 §5.2: not in grant_types_supported."""
    rp = RelyingParty(app, rp_client, "openid")
    assert "password" not in rp.metadata["grant_types_supported"]
    with pytest.raises(OAuthError) as error:
        rp.client.fetch_token(
            rp.metadata["token_endpoint"],
            grant_type="password",
            username=user.email,
            password=user.password,
        )
    assert error.value.error == "unsupported_grant_type"


def test_authlib_sees_a_personal_scope_for_itself_as_invalid_scope(app, user):
    """invalid_scope — RFC 6749 §5.2: a client acting for itself cannot ask for a person's
    scope."""
    with app.app_context():
        machine = factories.make_client(
            owner_email=user.email,
            grant_types=["client_credentials"],
            scope="openid events:read",
            redirect_uris=[],
        )
    rp = RelyingParty(app, machine, "openid")
    with pytest.raises(OAuthError) as error:
        rp.client.fetch_token(rp.metadata["token_endpoint"], grant_type="client_credentials")
    assert error.value.error == "invalid_scope"
    rp.client.scope = "events:read"
    token = rp.client.fetch_token(rp.metadata["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "events:read"
    assert rp.introspect(token["access_token"])["active"] is True


# --- Authlib's Flask relying-party integration ---------------------------------------------------


def make_flask_rp(auth_app: Flask, app_client: ClientInfo) -> Flask:
    """A small web application that signs its users in with Authlib's Flask integration."""

    class InProcessSession(OAuth2Session):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            session_for(auth_app, self)

    class InProcessApp(FlaskOAuth2App):
        client_cls = InProcessSession

    rp = Flask("relying_party")
    rp.secret_key = "relying-party-" + "k" * 32
    oauth = OAuth(rp)
    idp = oauth.register(
        "idp",
        client_id=app_client.client_id,
        client_secret=app_client.secret,
        server_metadata_url=DISCOVERY,
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
        client_cls=InProcessApp,
    )

    @rp.get("/signin")
    def signin():
        return idp.authorize_redirect(app_client.redirect_uri)

    @rp.get("/callback")
    def callback():
        try:
            token = idp.authorize_access_token()
        except OAuthError as error:
            return jsonify(error=error.error, description=error.description), 400
        session["id_token"] = token["id_token"]
        return jsonify(
            token=dict(token),
            userinfo=dict(token["userinfo"]),
            fetched=dict(idp.userinfo(token=token)),
        )

    @rp.get("/signout")
    def signout():
        return idp.logout_redirect(post_logout_redirect_uri=BYE, id_token_hint=session["id_token"])

    @rp.get("/bye")
    def bye():
        return jsonify(idp.validate_logout_response())

    return rp


def test_authlib_flask_integration_signs_in_and_out(app, logged_in, user, rp_client):
    """Authlib's own relying party: discovery, PKCE, state, nonce and ID token validation happen
    inside the library (authorize_access_token → parse_id_token); RP-initiated logout comes back
    with the state the library checks."""
    relying_party = make_flask_rp(app, rp_client).test_client()

    start = relying_party.get("/signin")
    assert start.status_code == 302
    authorize = start.headers["Location"]
    params = query_of(authorize)
    assert params["code_challenge_method"] == "S256" and params["nonce"] and params["state"]

    callback = browse(logged_in, authorize)
    query = query_of(callback)
    assert query["iss"] == ISSUER  # RFC 9207 (Authlib does not check it; we do)
    answer = relying_party.get("/callback?" + callback.split("?", 1)[1])
    assert answer.status_code == 200, answer.data
    body = answer.get_json()
    assert body["userinfo"]["sub"] == user.subject  # the validated ID token's claims
    assert body["userinfo"]["nonce"] == params["nonce"]
    assert body["fetched"]["sub"] == user.subject  # the UserInfo endpoint
    assert body["fetched"]["email"] == user.email

    signout = relying_party.get("/signout")
    end_session = signout.headers["Location"]
    assert end_session.startswith(f"{ISSUER}/oauth/logout?")
    back = logged_in.get(end_session.removeprefix(ISSUER))
    assert back.status_code == 302
    assert back.headers["Location"].startswith(BYE + "?state=")
    done = relying_party.get("/bye?" + back.headers["Location"].split("?", 1)[1])
    assert done.status_code == 200, done.data
    assert done.get_json()["post_logout_redirect_uri"] == BYE
    assert logged_in.get("/account/apps").status_code == 302  # the OP session is over


def test_authlib_flask_integration_reports_a_denial(app, logged_in, rp_client):
    """access_denied comes back to the client, which raises it (RFC 6749 §4.1.2.1)."""
    relying_party = make_flask_rp(app, rp_client).test_client()
    authorize = relying_party.get("/signin").headers["Location"]
    denied = consent(logged_in, authorize.removeprefix(ISSUER), decision="deny")
    callback = denied.headers["Location"]
    assert query_of(callback)["iss"] == ISSUER
    answer = relying_party.get("/callback?" + callback.split("?", 1)[1])
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "access_denied"
