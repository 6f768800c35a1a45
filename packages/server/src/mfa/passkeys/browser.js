/* global document, window, SimpleWebAuthnBrowser */
/*
 * Passkey glue for Tessera's pages, served after the @simplewebauthn/browser
 * UMD bundle as /assets/passkeys.js (no inline script: the pages' CSP allows
 * script files from our origin only). Pages mark what it drives with data-
 * attributes; everything stays hidden without JavaScript or WebAuthn, so the
 * password and code forms work as they are.
 *
 * Options come from a JSON endpoint (fetch); the ceremony's result goes back
 * as an ordinary form POST, so the server can answer with redirects and pages.
 *
 *   [data-passkey-register]  account page: "Add a passkey"
 *     data-options, data-verify: endpoints; data-csrf: the form token
 *   [data-passkey-auth]      sign-in page / MFA step: "Sign in with a passkey"
 *     data-options, data-verify: endpoints; data-autofill: also offer passkeys
 *     in the username field's autofill (conditional UI)
 *   [data-passkey-error]     where errors are shown
 *   data-msg-cancelled, data-msg-failed: localized texts for the browser's own failures
 */
(function () {
  'use strict';
  // Pages may include the script more than once (one tag per fragment): run once.
  if (window.tesseraPasskeys) return;
  window.tesseraPasskeys = true;
  var wa = window.SimpleWebAuthnBrowser || (typeof SimpleWebAuthnBrowser !== 'undefined' ? SimpleWebAuthnBrowser : undefined);

  function errorBox() {
    return document.querySelector('[data-passkey-error]');
  }

  function showError(message) {
    var box = errorBox();
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
  }

  function clearError() {
    var box = errorBox();
    if (box) box.hidden = true;
  }

  /** POSTs JSON; resolves with { ok, data } whatever the answer (errors carry error_description). */
  async function post(url, body) {
    var res;
    try {
      res = await window.fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (_e) {
      return { ok: false, data: {} };
    }
    var data = {};
    try {
      data = await res.json();
    } catch (_e) {
      data = {};
    }
    return { ok: res.ok, data: data };
  }

  /**
   * Sends the ceremony's result as a normal form POST: the server answers
   * with the redirect a sign-in needs (through the engine, back to the
   * application), or with a page that says what went wrong.
   */
  function submit(action, fields) {
    var form = document.createElement('form');
    form.method = 'post';
    form.action = action;
    form.hidden = true;
    Object.keys(fields).forEach(function (name) {
      var input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = fields[name];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  function failure(el, data) {
    return (data && data.error_description) || el.getAttribute('data-msg-failed') || 'Error';
  }

  /** The user closed the browser's dialog, or another ceremony replaced this one. */
  function cancelled(err) {
    return err && (err.name === 'AbortError' || err.name === 'NotAllowedError' || err.code === 'ERROR_CEREMONY_ABORTED');
  }

  function setupRegister(el) {
    var button = el.querySelector('button');
    var nameInput = el.querySelector('input[name="name"]');
    el.hidden = false;
    button.addEventListener('click', async function () {
      clearError();
      button.disabled = true;
      try {
        // The account page's form token; sign-in pages have none (the interaction cookie binds them).
        var csrf = el.getAttribute('data-csrf');
        var token = csrf ? { _csrf: csrf } : {};
        var options = await post(el.getAttribute('data-options'), token);
        if (!options.ok && options.data && options.data.error === 'reauthentication_required') {
          // The sign-in is too old for a security change: sign in again (the password is asked), then back to this page.
          window.location.assign('/account/signin?' + new URLSearchParams({ step_up: 'recent', return_to: window.location.pathname }));
          return;
        }
        if (!options.ok) return showError(failure(el, options.data));
        var credential;
        try {
          credential = await wa.startRegistration({ optionsJSON: options.data });
        } catch (err) {
          return showError(cancelled(err) ? el.getAttribute('data-msg-cancelled') : failure(el));
        }
        submit(el.getAttribute('data-verify'), Object.assign({
          name: nameInput ? nameInput.value : '', credential: JSON.stringify(credential),
        }, token));
      } finally {
        button.disabled = false;
      }
    });
  }

  function setupAuth(el) {
    var button = el.querySelector('button');

    async function run(autofill) {
      if (!autofill) clearError();
      var options = await post(el.getAttribute('data-options'), {});
      if (!options.ok) {
        if (!autofill) showError(failure(el, options.data));
        return;
      }
      var credential;
      try {
        credential = await wa.startAuthentication({ optionsJSON: options.data, useBrowserAutofill: autofill });
      } catch (err) {
        // An autofill request is aborted whenever the button starts a ceremony: not an error.
        if (!autofill) showError(cancelled(err) ? el.getAttribute('data-msg-cancelled') : failure(el));
        return;
      }
      submit(el.getAttribute('data-verify'), { credential: JSON.stringify(credential) });
    }

    el.hidden = false;
    button.addEventListener('click', function () {
      run(false);
    });
    if (el.hasAttribute('data-autofill') && wa.browserSupportsWebAuthnAutofill) {
      wa.browserSupportsWebAuthnAutofill().then(function (supported) {
        if (supported) run(true);
      }, function () {});
    }
  }

  function start() {
    if (!wa || !wa.browserSupportsWebAuthn()) {
      document.querySelectorAll('[data-passkey-unsupported]').forEach(function (el) {
        el.hidden = false;
      });
      return;
    }
    document.querySelectorAll('[data-passkey-register]').forEach(setupRegister);
    document.querySelectorAll('[data-passkey-auth]').forEach(setupAuth);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
