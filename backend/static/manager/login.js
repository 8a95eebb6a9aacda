// The manager page's login: e-mail and password; the backend opens a
// session (an HttpOnly cookie) and says where to go next.
"use strict";

(() => {
  const form = document.getElementById("entrar");
  const error = document.getElementById("erro");
  const button = form.querySelector("button");
  const asked = new URLSearchParams(location.search).get("next") || "/manager";

  // Only a page of this site's manager area; the backend checks the same
  // before answering a login.
  function destination() {
    try {
      const url = new URL(asked, location.origin);
      const path = url.pathname;
      if (url.origin === location.origin && (path === "/manager" || path.startsWith("/manager/"))
          && !path.startsWith("/manager/login") && !path.startsWith("/manager/logout")) {
        return path + url.search;
      }
    } catch {
      // Not a URL: the default below.
    }
    return "/manager";
  }

  function show(message) {
    error.textContent = message;
    error.hidden = false;
  }

  // Already logged in: a link from elsewhere (a CRM note) arrives without
  // the SameSite=Strict cookie, but this page's own requests carry it.
  fetch("/manager/api/session", { credentials: "same-origin" })
    .then((response) => {
      if (response.ok) location.replace(destination());
    })
    .catch(() => {});

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const email = form.elements.email.value.trim();
    const password = form.elements.senha.value;
    if (!email || !password) {
      show("Escreva o seu e-mail e a sua senha para entrar.");
      return;
    }
    button.disabled = true;
    try {
      const response = await fetch("/manager/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-disca-manager": "1" },
        body: JSON.stringify({ email, password, next: asked }),
      });
      const body = await response.json().catch(() => null);
      if (response.ok && body && typeof body.next === "string") {
        location.assign(body.next);
        return;
      }
      show(body?.error?.message || `Não foi possível entrar (erro ${response.status}). Tente de novo.`);
    } catch {
      show("Sem conexão com o servidor do Disca. Verifique a rede e tente de novo.");
    } finally {
      button.disabled = false;
    }
  });
})();
