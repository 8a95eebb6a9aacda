// The account pages: set a password from a link, ask for a reset link,
// sign in for disca-host (OAuth). Every text set here comes from the
// server's JSON or is fixed; none is parsed as HTML.
"use strict";

(() => {
  const PAGE_HEADER = { "content-type": "application/json", "x-disca-page": "1" };

  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: PAGE_HEADER,
        body: JSON.stringify(body),
      });
    } catch {
      return { ok: false, message: "Não foi possível falar com o servidor do Disca. Confira a sua conexão e tente de novo." };
    }
    const json = await response.json().catch(() => null);
    if (response.ok) return { ok: true, body: json };
    const message = json && json.error && typeof json.error.message === "string"
      ? json.error.message
      : `O servidor do Disca respondeu ${response.status}. Tente de novo.`;
    return { ok: false, message };
  }

  function show(element, text) {
    element.textContent = text;
    element.hidden = false;
  }

  function passwordPage() {
    const token = location.hash.slice(1);
    // The secret leaves the address bar (and the history) at once.
    history.replaceState(null, "", location.pathname);
    const greeting = document.getElementById("saudacao");
    const form = document.getElementById("senha");
    const error = document.getElementById("erro");
    const problem = document.getElementById("problema");
    (async () => {
      const link = await post("/account/api/link", { token });
      if (!link.ok) {
        greeting.hidden = true;
        show(problem, link.message);
        return;
      }
      greeting.textContent = link.body.purpose === "invite"
        ? `Olá, ${link.body.name}! Crie a sua senha do Disca na ${link.body.company}.`
        : `Olá, ${link.body.name}! Crie uma nova senha do Disca.`;
      document.getElementById("email").textContent = link.body.email;
      form.hidden = false;
      form.elements.nova.focus();
    })();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      const password = form.elements.nova.value;
      if (password !== form.elements.repetida.value) {
        show(error, "As duas senhas não são iguais.");
        return;
      }
      const button = form.querySelector("button");
      button.disabled = true;
      const done = await post("/account/api/password", { token, password });
      button.disabled = false;
      if (done.ok) {
        form.hidden = true;
        greeting.hidden = true;
        document.getElementById("pronto").hidden = false;
      } else {
        show(error, done.message);
      }
    });
  }

  function forgotPage() {
    const form = document.getElementById("esqueci");
    const error = document.getElementById("erro");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      const email = form.elements.email.value.trim();
      if (!email) {
        show(error, "Escreva o seu e-mail.");
        return;
      }
      const done = await post("/account/api/forgot", { email });
      if (!done.ok) {
        show(error, done.message);
        return;
      }
      form.hidden = true;
      document.getElementById(done.body && done.body.mails ? "enviado" : "sem-email").hidden = false;
    });
  }

  function signInPage() {
    const params = Object.fromEntries(new URLSearchParams(location.search));
    const form = document.getElementById("entrar");
    const error = document.getElementById("erro");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      const email = form.elements.email.value.trim();
      const password = form.elements.senha.value;
      if (!email || !password) {
        show(error, "Escreva o seu e-mail e a sua senha.");
        return;
      }
      const button = form.querySelector("button");
      button.disabled = true;
      const done = await post(location.pathname, {
        email,
        password,
        response_type: params.response_type,
        client_id: params.client_id,
        redirect_uri: params.redirect_uri,
        state: params.state,
        code_challenge: params.code_challenge,
        code_challenge_method: params.code_challenge_method,
      });
      if (done.ok && done.body && typeof done.body.redirect === "string"
          && done.body.redirect.startsWith("http://127.0.0.1:")) {
        form.hidden = true;
        document.getElementById("pronto").hidden = false;
        location.replace(done.body.redirect);
        return;
      }
      button.disabled = false;
      show(error, done.ok ? "Resposta inesperada do servidor do Disca." : done.message);
    });
  }

  const page = document.body.dataset.page;
  if (page === "password") passwordPage();
  else if (page === "forgot") forgotPage();
  else if (page === "sign-in") signInPage();
})();
