// Passkeys: the browser's half of the WebAuthn ceremonies (views/passkeys.py is the server's).
// Progressive enhancement: each passkey control is hidden in the HTML and shown only where the
// browser can talk to passkeys; every page works without this file.
(function () {
  "use strict";

  function toBytes(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    var padded = base64 + "===".slice((base64.length + 3) % 4);
    var binary = atob(padded);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    json.challenge = toBytes(json.challenge);
    json.user.id = toBytes(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: json };
  }

  function requestOptions(json) {
    json.challenge = toBytes(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: json };
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) out.authenticatorAttachment = credential.authenticatorAttachment;
    if (response.attestationObject) {
      out.response.attestationObject = toBase64url(response.attestationObject);
      if (response.getTransports) out.response.transports = response.getTransports();
    } else {
      out.response.authenticatorData = toBase64url(response.authenticatorData);
      out.response.signature = toBase64url(response.signature);
      if (response.userHandle) out.response.userHandle = toBase64url(response.userHandle);
    }
    return out;
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || "The server refused (" + response.status + ").");
        return data;
      });
    });
  }

  function wire(box, ceremony) {
    var button = box.querySelector("[data-passkey-button]");
    var error = box.querySelector("[data-passkey-error]");
    // The page's own form token where it has a form (the login pages), else the box's.
    var field = document.querySelector('input[name="csrf_token"]');
    var csrf = box.getAttribute("data-csrf") || (field ? field.value : "");
    box.hidden = false;
    button.addEventListener("click", function () {
      error.hidden = true;
      button.disabled = true;
      post(box.getAttribute("data-options-url"), csrf)
        .then(function (options) { return ceremony(options); })
        .then(function (body) { return post(box.getAttribute("data-verify-url"), csrf, body); })
        .then(function (answer) { window.location.assign(answer.redirect); })
        .catch(function (problem) {
          error.textContent = problem && problem.name === "NotAllowedError"
            ? "The passkey request was cancelled or timed out."
            : (problem && problem.message) || "That did not work.";
          error.hidden = false;
          button.disabled = false;
        });
    });
  }

  function signIn(options) {
    return navigator.credentials.get(requestOptions(options)).then(function (credential) {
      return { credential: credentialJSON(credential) };
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential || !navigator.credentials) return;
    document.querySelectorAll("[data-passkey-login], [data-passkey-second-step]").forEach(function (box) {
      wire(box, signIn);
    });
    document.querySelectorAll("[data-passkey-register]").forEach(function (box) {
      var name = box.querySelector("[data-passkey-name]");
      wire(box, function (options) {
        return navigator.credentials.create(creationOptions(options)).then(function (credential) {
          return { name: name.value || "Passkey", credential: credentialJSON(credential) };
        });
      });
    });
  });
})();
