// A relying party built on openid-client (a certified OpenID Connect RP library), run against a
// live authserver by test_openid_client_node.py. It speaks one JSON object per line on stdout and
// reads the callback URL (where the user's browser landed) as one line on stdin.
//
// Every response is validated by openid-client's own rules: discovery (issuer match), RFC 9207
// iss, state, PKCE, ID token (signature by the JWKS, iss, aud, azp, exp, iat, nonce), UserInfo
// sub, refresh, introspection and revocation responses.

import * as readline from "node:readline";
import * as client from "openid-client";

const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;

function emit(object) {
  process.stdout.write(JSON.stringify(object) + "\n");
}

async function readLine() {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line.trim();
  }
  throw new Error("no callback URL on stdin");
}

async function discover(algorithm) {
  return client.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    { client_secret: CLIENT_SECRET },
    client.ClientSecretBasic(CLIENT_SECRET),
    // Plain http is the loopback issuer of a local test run (SPEC allows it for loopback only).
    { algorithm, execute: [client.allowInsecureRequests] },
  );
}

async function main() {
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
  const endSession = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token });

  emit({
    result: {
      issuer: metadata.issuer,
      claims,
      userinfo,
      scope: tokens.scope,
      refreshed_differs: refreshed.access_token !== tokens.access_token,
      introspection_before: before,
      introspection_after_access: afterAccess,
      introspection_after_refresh: afterRefresh,
      refresh_after_revocation: refreshError,
      end_session: endSession.href,
    },
  });
}

main().catch((error) => {
  emit({ error: String(error), code: error.code ?? null, cause: String(error.cause ?? "") });
  process.exit(1);
});
