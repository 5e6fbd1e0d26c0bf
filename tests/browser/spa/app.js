// A single-page app on its own origin: oidc-client-ts does discovery, the authorization code
// flow with PKCE (a public client: no secret), the token exchange from the browser, UserInfo and
// revocation on sign-out; the page then calls the resource API with the access token. Every
// cross-origin call needs the servers' CORS answers.
"use strict";

async function manager() {
  const config = await (await fetch("/config.json")).json();
  const origin = window.location.origin;
  return {
    config,
    users: new oidc.UserManager({
      authority: config.issuer,
      client_id: config.client_id,
      redirect_uri: `${origin}/callback.html`,
      post_logout_redirect_uri: `${origin}/`,
      response_type: "code",
      scope: "openid profile email events:read",
      loadUserInfo: true,
      revokeTokensOnSignout: true,
      userStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
    }),
  };
}

function show(id, text) {
  document.getElementById(id).textContent = text;
}

async function home() {
  const { config, users } = await manager();
  const user = await users.getUser();
  const signIn = document.getElementById("sign-in");
  const call = document.getElementById("call");
  const signOut = document.getElementById("sign-out");
  signIn.onclick = () => users.signinRedirect().catch((e) => show("status", `Error: ${e}`));
  signOut.onclick = () => users.signoutRedirect().catch((e) => show("status", `Error: ${e}`));
  call.onclick = async () => {
    try {
      // UserInfo from the browser (oidc-client-ts loaded it once at sign-in; ask again here).
      const info = await fetch(users.settings.metadata?.userinfo_endpoint ?? `${config.issuer}/oauth/userinfo`, {
        headers: { Authorization: `Bearer ${user.access_token}` },
      });
      show("userinfo", JSON.stringify({ status: info.status, body: await info.json() }));
      const me = await fetch(`${config.api}/api/me`, {
        headers: { Authorization: `Bearer ${user.access_token}` },
      });
      show("me", JSON.stringify({ status: me.status, body: await me.json() }));
      show("status", "Called");
    } catch (e) {
      show("status", `Error: ${e}`);
    }
  };
  if (user && !user.expired) {
    show("status", `Signed in as ${user.profile.email}`);
    call.hidden = signOut.hidden = false;
  } else {
    show("status", "Signed out");
    signIn.hidden = false;
  }
}

async function callback() {
  const { users } = await manager();
  try {
    await users.signinRedirectCallback();
    window.location.replace("/");
  } catch (e) {
    show("status", `Error: ${e}`);
  }
}

(window.location.pathname === "/callback.html" ? callback : home)();
