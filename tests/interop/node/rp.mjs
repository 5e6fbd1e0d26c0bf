// A relying party built on openid-client (a certified OpenID Connect RP library), run against a
// live authserver by test_openid_client_node.py. It speaks one JSON object per line on stdout and
// reads what the user's browser did (the callback URL, a logout token) one line at a time on stdin.
//
// Every response is validated by openid-client's own rules: discovery (issuer match), RFC 9207
// iss, state, PKCE, ID token (signature by the JWKS, iss, aud, azp, exp, iat, nonce), UserInfo
// sub, refresh, introspection and revocation responses, the device grant's polling.
//
// MODE=code (default): code + PKCE, UserInfo, refresh, introspection, revocation; the client
//   authenticates with AUTH=client_secret_basic (CLIENT_SECRET) or AUTH=private_key_jwt
//   (PRIVATE_JWK, the private half of the key registered for the client). With
//   POST_LOGOUT_REDIRECT_URI set, RP-initiated logout follows, and the back-channel logout token
//   the test hands over is validated as OpenID Connect Back-Channel Logout 1.0 §2.6 says.
// MODE=device: the device authorization grant (RFC 8628) as a public client, then UserInfo.

import * as readline from "node:readline";
import * as jose from "jose";
import * as client from "openid-client";

const env = process.env;
const { ISSUER, CLIENT_ID, REDIRECT_URI } = env;
const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function emit(object) {
  process.stdout.write(JSON.stringify(object) + "\n");
}

async function readLine() {
  const { value, done } = await stdin.next();
  if (done) throw new Error("stdin ended before the test answered");
  return value.trim();
}

async function clientAuthentication() {
  if (env.AUTH === "private_key_jwt") {
    const jwk = JSON.parse(env.PRIVATE_JWK);
    const key = await jose.importJWK(jwk, "RS256");
    return [{}, client.PrivateKeyJwt({ key, kid: jwk.kid })];
  }
  if (env.AUTH === "none") return [{}, client.None()];
  return [{ client_secret: env.CLIENT_SECRET }, client.ClientSecretBasic(env.CLIENT_SECRET)];
}

async function discover(algorithm) {
  const [metadata, authentication] = await clientAuthentication();
  return client.discovery(new URL(ISSUER), CLIENT_ID, metadata, authentication, {
    algorithm,
    // Plain http is the loopback issuer of a local test run (SPEC allows it for loopback only).
    execute: [client.allowInsecureRequests],
  });
}

// OpenID Connect Back-Channel Logout 1.0 §2.6: what a relying party checks of a logout token,
// with jose (openid-client's own JOSE library) against the keys discovery names.
async function validateLogoutToken(config, logoutToken, expected) {
  const metadata = config.serverMetadata();
  const keys = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(logoutToken, keys, {
    issuer: metadata.issuer,
    audience: CLIENT_ID,
    typ: "logout+jwt",
    algorithms: metadata.id_token_signing_alg_values_supported,
    requiredClaims: ["iat", "jti", "events"],
  });
  const event = payload.events?.["http://schemas.openid.net/event/backchannel-logout"];
  if (typeof event !== "object" || event === null) throw new Error("no back-channel event");
  if ("nonce" in payload) throw new Error("a logout token must not carry nonce");
  if (!payload.sub && !payload.sid) throw new Error("neither sub nor sid");
  if (payload.sid !== expected.sid) throw new Error("sid is not the ID token's");
  if (payload.sub !== expected.sub) throw new Error("sub is not the ID token's");
  return { typ: protectedHeader.typ, alg: protectedHeader.alg, sid: payload.sid };
}

async function codeFlow() {
  // RFC 8414 and OpenID Connect Discovery: both documents, each checked against the issuer.
  await discover("oauth2");
  const config = await discover("oidc");
  const metadata = config.serverMetadata();

  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid profile email offline_access",
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  emit({ authorize: authorizationUrl.href });

  const callback = new URL(await readLine());
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const refreshedUserinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  const before = await client.tokenIntrospection(config, refreshed.access_token);
  await client.tokenRevocation(config, refreshed.refresh_token, {
    token_type_hint: "refresh_token",
  });
  const afterAccess = await client.tokenIntrospection(config, refreshed.access_token);
  const afterRefresh = await client.tokenIntrospection(config, refreshed.refresh_token);
  let refreshError = null;
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token);
  } catch (error) {
    refreshError = error.error ?? error.code ?? String(error);
  }

  const result = {
    issuer: metadata.issuer,
    claims,
    userinfo,
    scope: tokens.scope,
    refreshed_differs: refreshed.access_token !== tokens.access_token,
    refreshed_claims: refreshed.id_token ? refreshed.claims() : null,
    refreshed_userinfo_sub: refreshedUserinfo.sub,
    introspection_before: before,
    introspection_after_access: afterAccess,
    introspection_after_refresh: afterRefresh,
    refresh_after_revocation: refreshError,
  };
  if (!env.POST_LOGOUT_REDIRECT_URI) {
    result.end_session = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token }).href;
    emit({ result });
    return;
  }
  const logoutState = client.randomState();
  emit({
    end_session: client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: env.POST_LOGOUT_REDIRECT_URI,
      state: logoutState,
    }).href,
    logout_state: logoutState,
  });
  const logoutToken = await readLine();
  result.logout_token = await validateLogoutToken(config, logoutToken, claims);
  emit({ result });
}

async function deviceFlow() {
  const config = await discover("oidc");
  const started = await client.initiateDeviceAuthorization(config, {
    scope: "openid profile offline_access",
  });
  emit({
    user_code: started.user_code,
    verification_uri: started.verification_uri,
    verification_uri_complete: started.verification_uri_complete ?? null,
    interval: started.interval ?? null,
  });
  // Polls at the server's interval, through authorization_pending, until the person decides.
  const tokens = await client.pollDeviceAuthorizationGrant(config, started);
  const claims = tokens.claims() ?? null;
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims?.sub ?? client.skipSubjectCheck);
  emit({
    result: {
      claims,
      userinfo,
      scope: tokens.scope,
      has_refresh_token: typeof tokens.refresh_token === "string",
    },
  });
}

const mode = env.MODE ?? "code";
(mode === "device" ? deviceFlow() : codeFlow())
  .then(() => process.exit(0))
  .catch((error) => {
    emit({ error: String(error), code: error.code ?? null, cause: String(error.cause ?? "") });
    process.exit(1);
  });
