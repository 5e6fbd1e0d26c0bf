// A public client built on openid-client 6 that binds everything to a DPoP key (RFC 9449):
// PAR with a DPoP header (§10.1) → authorize (PKCE S256, state) → code exchange with a proof →
// a DPoP call to the resource API → refresh with a proof of the same key → the API again.
// Run against a live authserver and resource API by test_dpop_par_node.py; it speaks one JSON
// object per line on stdout and reads the callback URL (where the browser landed) on stdin.
//
// Every step is checked by openid-client's own rules (and its DPoP handle answers
// use_dpop_nonce by retrying with the server's nonce, once).

import * as readline from "node:readline";
import * as client from "openid-client";

const { ISSUER, CLIENT_ID, REDIRECT_URI, API } = process.env;

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

async function callApi(config, accessToken, DPoP) {
  const response = await client.fetchProtectedResource(
    config,
    accessToken,
    new URL(`${API}/api/events?limit=1`),
    "GET",
    undefined,
    undefined,
    { DPoP },
  );
  return { status: response.status, body: await response.json() };
}

async function main() {
  const config = await client.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    undefined,
    client.None(),
    // Plain http is the loopback issuer of a local test run (SPEC allows it for loopback only).
    { execute: [client.allowInsecureRequests] },
  );
  const metadata = config.serverMetadata();
  const keyPair = await client.randomDPoPKeyPair("ES256");
  const DPoP = client.getDPoPHandle(config, keyPair);

  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: REDIRECT_URI,
      scope: "openid offline_access events:read",
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      state,
    },
    { DPoP },
  );
  emit({ authorize: authorizationUrl.href });

  const callback = new URL(await readLine());
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: codeVerifier, expectedState: state },
    undefined,
    { DPoP },
  );
  const firstCall = await callApi(config, tokens.access_token, DPoP);

  // The same token as a plain bearer token: the API must refuse it.
  const asBearer = await fetch(`${API}/api/events?limit=1`, {
    headers: { Authorization: `Bearer ${tokens.access_token}` },
  });

  // Refreshing without the key (no DPoP handle) must fail: the refresh token is bound.
  let unboundRefresh = null;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (error) {
    unboundRefresh = error.error ?? error.code ?? String(error);
  }

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, {
    DPoP,
  });
  const secondCall = await callApi(config, refreshed.access_token, DPoP);

  emit({
    result: {
      issuer: metadata.issuer,
      dpop_algs: metadata.dpop_signing_alg_values_supported,
      token_type: tokens.token_type,
      refreshed_token_type: refreshed.token_type,
      refreshed_differs: refreshed.access_token !== tokens.access_token,
      first_call: firstCall,
      as_bearer_status: asBearer.status,
      as_bearer_challenge: asBearer.headers.get("www-authenticate"),
      unbound_refresh: unboundRefresh,
      second_call: secondCall,
    },
  });
}

main().catch((error) => {
  emit({ error: String(error), code: error.code ?? null, cause: String(error.cause ?? "") });
  process.exit(1);
});
