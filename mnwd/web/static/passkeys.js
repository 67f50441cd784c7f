// Passkeys: the WebAuthn ceremonies of /settings/passkeys (#passkey-register) and /login (#passkey-login).
// The server speaks JSON with binary fields as base64url; the browser API wants ArrayBuffers.
// Requests carry the CSRF token from the element's data-csrf-token (or <meta name="csrf-token">).
(function () {
  "use strict";

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function csrfToken(element) {
    if (element.dataset.csrfToken) return element.dataset.csrfToken;
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function postJSON(url, body, csrf) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (_) {
      // Not JSON (a proxy's error page, say): the status is all there is to tell.
    }
    if (!response.ok) throw new Error(data.detail || "The server answered " + response.status + ".");
    return data;
  }

  function descriptors(list) {
    return (list || []).map(function (d) { return Object.assign({}, d, { id: fromBase64url(d.id) }); });
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      user: Object.assign({}, json.user, { id: fromBase64url(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  function credentialJSON(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    }
    if (r.authenticatorData) {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: response,
    };
  }

  function explain(error) {
    // The browser's own errors when the person cancels or the dialog times out.
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return "The passkey request was cancelled or timed out.";
    }
    if (error && error.name === "InvalidStateError") return "This authenticator already holds a passkey for your account.";
    return (error && error.message) || "Something went wrong.";
  }

  function showError(element, message) {
    if (!element) return;
    element.textContent = message;
    element.hidden = !message;
  }

  function setUpRegistration(form) {
    const unsupported = document.getElementById("passkey-unsupported");
    if (unsupported) unsupported.hidden = true;
    form.hidden = false;
    const errorBox = document.getElementById("passkey-error");
    const button = form.querySelector('button[type="submit"]');
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      showError(errorBox, "");
      button.disabled = true;
      try {
        const csrf = csrfToken(form);
        const options = await postJSON("/settings/passkeys/options", {}, csrf);
        const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
        const name = form.querySelector('input[name="name"]').value;
        const body = { name: name, credential: credentialJSON(credential) };
        // The re-authentication the page asks for: the password, or a code for an account without one.
        for (const field of ["password", "code"]) {
          const input = form.querySelector('input[name="' + field + '"]');
          if (input) body[field] = input.value;
        }
        const saved = await postJSON("/settings/passkeys", body, csrf);
        window.location.assign(saved.redirect);
      } catch (error) {
        showError(errorBox, explain(error));
        button.disabled = false;
      }
    });
  }

  function setUpSignIn(button) {
    button.hidden = false;
    const errorBox = document.getElementById("passkey-error");
    button.addEventListener("click", async function () {
      showError(errorBox, "");
      button.disabled = true;
      try {
        const csrf = csrfToken(button);
        const options = await postJSON("/login/passkey/options", {}, csrf);
        const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
        const next = button.dataset.next || "/settings";
        const done = await postJSON("/login/passkey", { credential: credentialJSON(credential), next: next }, csrf);
        window.location.assign(done.redirect);
      } catch (error) {
        showError(errorBox, explain(error));
        button.disabled = false;
      }
    });
  }

  function start() {
    if (!window.PublicKeyCredential || !navigator.credentials) return;
    const form = document.getElementById("passkey-register");
    if (form) setUpRegistration(form);
    const button = document.getElementById("passkey-login");
    if (button) setUpSignIn(button);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
