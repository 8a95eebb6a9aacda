// The admin console: the company's people (search, invite, CSV import,
// role, admin, phone, extension, RD Station user, disable/enable, links,
// a desk phone's SIP credentials, sign-out of every computer), the
// destination policy, the outcomes salespeople choose after a call, and
// the audit log.
// Every text comes from the backend's JSON and is set with textContent or
// attributes; nothing is parsed as HTML.
"use strict";

(() => {
  /** State-changing requests carry this header (the backend's CSRF check). */
  const SAME_SITE = { "x-disca-manager": "1" };
  const API = "/manager/admin/api";

  const $ = (id) => document.getElementById(id);
  const notice = $("aviso");
  const peopleRows = document.querySelector("#tabela-pessoas tbody");
  const auditRows = document.querySelector("#tabela-auditoria tbody");
  let session = null;
  let auditCursor = null;

  const { toLogin, el } = DiscaPage;
  const { say, report } = DiscaPage.notices(notice);

  /** A request of the console's API: changes carry the CSRF header; a body is JSON unless `type` says. */
  async function call(url, { method = "GET", body, type } = {}) {
    const headers = method === "GET" ? {} : { ...SAME_SITE };
    let payload;
    if (body !== undefined) {
      headers["content-type"] = type || "application/json";
      payload = type ? body : JSON.stringify(body);
    }
    return DiscaPage.fetchJson(url, { method, headers, body: payload });
  }

  /** Fills `node` (a select) with `choices`, `value` chosen (also after a form reset). */
  function options(node, choices, value) {
    for (const choice of choices) {
      const option = el("option", { text: choice.label, attrs: { value: choice.value } });
      option.defaultSelected = choice.value === value;
      node.append(option);
    }
    node.value = value;
    return node;
  }

  function select(choices, value, attrs) {
    return options(el("select", { attrs }), choices, value);
  }

  /** Shows links the server could not e-mail, for the admin to send. */
  function showLinks(items) {
    const list = $("links-lista");
    for (const { person, link } of items) {
      if (link.mailed) continue;
      const item = el("li", { attrs: { "data-email": person.email } },
        el("strong", { text: `${person.name} <${person.email}>` }),
        document.createTextNode(" — válido até " + link.valid_until + ": "),
        el("code", { cls: "link", text: link.url }));
      if (link.problem) item.append(el("div", { cls: "ajuda", text: link.problem }));
      list.append(item);
    }
    $("links").hidden = list.children.length === 0;
  }

  function personRow(person) {
    const row = el("tr", { attrs: { "data-person": person.id, "data-email": person.email } });
    if (person.status === "disabled") row.classList.add("desativado");
    const change = async (patch) => {
      try {
        const answer = await call(`${API}/people/${encodeURIComponent(person.id)}`, { method: "PATCH", body: patch });
        row.replaceWith(personRow(answer.person));
        say(answer.warning || `Alteração salva: ${answer.person.name}.`);
      } catch (error) {
        report(error);
        row.replaceWith(personRow(person));
      }
    };

    const role = select(session.roles, person.role, { "data-field": "role", "aria-label": "Papel" });
    role.addEventListener("change", () => change({ role: role.value }));
    const admin = el("input", { attrs: { type: "checkbox", "data-field": "admin", "aria-label": "Administrador" } });
    admin.checked = person.admin;
    admin.addEventListener("change", () => change({ admin: admin.checked }));
    const phone = select(session.phones, person.phone, { "data-field": "phone", "aria-label": "Telefone" });
    phone.addEventListener("change", () => change({ phone: phone.value }));
    const extension = el("input", { attrs: { type: "text", "data-field": "extension", maxlength: "16", "aria-label": "Ramal" } });
    extension.value = person.extension;
    extension.addEventListener("change", () => change({ extension: extension.value }));
    const crm = el("input", { attrs: { type: "text", "data-field": "crm_user_id", maxlength: "64", placeholder: "nenhum", "aria-label": "Usuário RD Station" } });
    crm.value = person.crm_user_id || "";
    crm.addEventListener("change", () => change({ crm_user_id: crm.value }));

    const actions = el("div", { cls: "acoes-linha" });
    const action = (label, name, run) => {
      const button = el("button", { cls: "secundario", text: label, attrs: { type: "button", "data-action": name } });
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          await run();
        } catch (error) {
          report(error);
        } finally {
          button.disabled = false;
        }
      });
      actions.append(button);
    };
    const disabled = person.status === "disabled";
    action(disabled ? "Reativar" : "Desativar", disabled ? "enable" : "disable", () => change({ disabled: !disabled }));
    const linkAction = async (path, what) => {
      const link = await call(`${API}/people/${encodeURIComponent(person.id)}/${path}`, { method: "POST" });
      showLinks([{ person, link }]);
      say(link.mailed ? `${what} enviado por e-mail para ${person.email}.` : `${what} criado: envie o link abaixo para ${person.name}.`);
      loadAudit(true);
    };
    if (person.status === "invited") {
      action("Reenviar convite", "invite", () => linkAction("invitation", "Convite"));
    } else {
      action("Redefinir senha", "reset", () => linkAction("password-reset", "Link de nova senha"));
    }
    if (person.phone === "desk" && session.phone_directory && !disabled) {
      action("Senha do telefone", "desk-phone", async () => {
        const sip = await call(`${API}/people/${encodeURIComponent(person.id)}/desk-phone`, { method: "POST" });
        $("sip-pessoa").textContent = `${person.name} (ramal ${person.extension})`;
        $("sip-servidor").textContent = sip.server;
        $("sip-transporte").textContent = sip.transport.toUpperCase();
        $("sip-usuario").textContent = sip.username;
        $("sip-senha").textContent = sip.password;
        $("sip-srtp").hidden = !sip.srtp;
        $("sip").hidden = false;
        $("sip").scrollIntoView({ block: "nearest" });
        say(`Nova senha do telefone de mesa de ${person.name}.`);
        loadAudit(true);
      });
    }
    action("Desconectar computadores", "sign-out", async () => {
      const answer = await call(`${API}/people/${encodeURIComponent(person.id)}/sign-out`, { method: "POST" });
      say(`${person.name}: ${answer.computers} computador(es) desconectado(s).`);
      await loadPeople();
    });

    row.append(
      el("td", { text: person.name }),
      el("td", { text: person.email }),
      el("td", {}, extension),
      el("td", {}, role),
      el("td", {}, admin),
      el("td", {}, phone),
      el("td", {}, crm),
      el("td", { cls: "situacao", text: person.status_label }),
      el("td", { cls: "num", text: String(person.devices) }),
      el("td", {}, actions),
    );
    return row;
  }

  async function loadPeople() {
    const q = $("busca").value.trim();
    const data = await call(`${API}/people` + (q ? "?q=" + encodeURIComponent(q) : ""));
    peopleRows.replaceChildren(...data.people.map(personRow));
    $("vazio").hidden = data.people.length > 0;
  }

  /** The people, for the caller IDs per salesperson (by e-mail). */
  let everyone = [];

  async function loadDialing() {
    const [data, people] = await Promise.all([call(`${API}/dialing`), call(`${API}/people`)]);
    everyone = people.people;
    const form = $("discagem");
    const f = form.elements;
    $("central-estado").textContent =
      `Central telefônica desta empresa: ${data.pbx === "default" ? "a principal" : `"${data.pbx}"`} — ` +
      (data.pbx_connected ? "conectada." : "fora do ar agora: as ligações são recusadas até ela voltar.");
    $("telefonia-estado").textContent = !data.directory
      ? (data.pbx !== "default"
        ? "A telefonia desta empresa é definida nos arquivos da central dela, não por aqui: peça à TI para configurar o diretório dela ([pbxs] directory_url)."
        : "Este servidor não escreve a configuração da central de telefonia: peça à TI para configurar [phones] directory_db.")
      : data.configured
        ? "A telefonia da empresa é definida aqui. As mudanças valem a partir da próxima ligação."
        : "A telefonia da empresa ainda é definida nos arquivos da central. Ao salvar aqui, esta página passa a defini-la.";
    $("registro-estado").hidden = !data.registration;
    $("registro-estado").textContent = data.registration ? `Registro na operadora: ${data.registration}` : "";
    f.trunk_password.value = "";
    if (!data.dialing) {
      showRegistration(f);
      return;
    }
    const d = data.dialing;
    for (const name of ["trunk_mode", "trunk_host", "trunk_port", "number_format", "national_prefix", "caller_id", "lead_ring_secs"]) {
      f[name].value = d[name];
    }
    f.trunk_username.value = d.trunk_username || "";
    f.trunk_password.placeholder = d.trunk_mode === "registration" ? "(guardada)" : "";
    showRegistration(f);
    f.areas.value = d.area_caller_ids.map((a) => `${a.area} = ${a.number}`).join("\n");
    f.vendedores.value = d.user_caller_ids
      .map((u) => `${everyone.find((p) => p.id === u.user_id)?.email || u.user_id} = ${u.number}`)
      .join("\n");
  }

  /** The account fields only when the carrier wants the PBX to register. */
  function showRegistration(f) {
    const registering = f.trunk_mode.value === "registration";
    for (const label of document.querySelectorAll("#discagem .registro")) label.hidden = !registering;
    f.trunk_username.required = registering;
  }
  $("discagem").elements.trunk_mode.addEventListener("change", () => showRegistration($("discagem").elements));

  /** `key = value` lines; throws with the line when one has no "=". */
  function pairs(text, what) {
    return text.split("\n").map((l) => l.trim()).filter(Boolean).map((line) => {
      const at = line.indexOf("=");
      if (at < 0) throw new Error(`${what}: a linha "${line}" não tem "=".`);
      return [line.slice(0, at).trim(), line.slice(at + 1).trim()];
    });
  }

  async function loadRdStation() {
    const rd = await call(`${API}/rdstation`);
    $("rd-estado").textContent = rd.connected
      ? `Conectado ao RD Station (API ${rd.api}). Notas esperando: ${rd.backlog}.`
      : "Não conectado: as notas das ligações esperam a conexão.";
    $("rd-notas").replaceChildren(...rd.notes.map((n) => el("li", { text: `${n.label}: ${n.count}` })));
    $("rd-erros").replaceChildren(...rd.errors.map((e) => el("li", { text: `${e.at} — ${e.error}` })));
    $("rd-erros-caixa").hidden = rd.errors.length === 0;
    $("rd-sem-usuario").replaceChildren(...rd.without_rd_user.map((p) => el("li", { text: `${p.name} <${p.email}>` })));
    $("rd-sem-usuario-caixa").hidden = rd.without_rd_user.length === 0;
    $("rd-associar").hidden = rd.api !== "v1";
    $("rd-retorno").textContent = rd.redirect_uri;
  }

  function showRecording(rules) {
    const f = $("regras-gravacao").elements;
    f.enabled.checked = rules.enabled;
    f.retention_days.value = rules.retention_days ?? "";
    $("aviso-estado").textContent = !rules.announcements_available
      ? "Este servidor não tem a pasta de avisos configurada: peça à TI para configurar [recordings] prompts_dir."
      : rules.announcement
        ? "O cliente ouve o aviso da empresa antes da conversa, e a gravação começa com ele."
        : "Nenhum aviso: o cliente não é avisado da gravação.";
    $("remover-aviso").hidden = !rules.announcement;
    $("aviso-padrao").hidden = !rules.default_available || !rules.announcements_available;
  }

  async function loadRecording() {
    showRecording(await call(`${API}/recording`));
  }

  async function loadPolicy() {
    const data = await call(`${API}/policy`);
    showPolicy(data);
  }

  function showPolicy(data) {
    const box = $("politica-opcoes");
    box.replaceChildren(...data.destinations.map((d) => {
      const input = el("input", { attrs: { type: "checkbox", name: d.field } });
      input.checked = d.allowed;
      return el("label", {}, input, document.createTextNode(d.label));
    }));
  }

  /** One outcome of the list: its name, and "Remover". */
  function outcomeRow(outcome) {
    const input = el("input", { attrs: { type: "text", maxlength: "40", "aria-label": "Nome do resultado", required: "" } });
    input.value = outcome.label;
    const remove = el("button", { cls: "secundario", text: "Remover", attrs: { type: "button" } });
    const row = el("li", {}, input, remove);
    if (outcome.id) row.dataset.id = outcome.id;
    remove.addEventListener("click", () => row.remove());
    return row;
  }

  function showOutcomes(data) {
    $("lista-resultados").replaceChildren(...data.dispositions.map(outcomeRow));
  }

  async function loadOutcomes() {
    showOutcomes(await call(`${API}/dispositions`));
  }

  async function loadAudit(fresh) {
    if (fresh) auditCursor = null;
    const data = await call(`${API}/audit` + (auditCursor ? "?before=" + encodeURIComponent(auditCursor) : ""));
    const rows = data.entries.map((e) => el("tr", {},
      el("td", { text: e.at }), el("td", { text: e.actor }), el("td", { text: e.action }),
      el("td", { text: e.target }), el("td", { text: e.detail })));
    if (fresh) auditRows.replaceChildren(...rows); else auditRows.append(...rows);
    auditCursor = data.next_cursor || null;
    $("mais-auditoria").hidden = !auditCursor;
  }

  function showTab(name) {
    for (const tab of document.querySelectorAll(".aba")) {
      const on = tab.dataset.aba === name;
      tab.setAttribute("aria-selected", String(on));
      $(tab.dataset.aba).hidden = !on;
    }
    say("");
    const load = {
      pessoas: loadPeople,
      telefonia: loadDialing,
      destinos: loadPolicy,
      resultados: loadOutcomes,
      rdstation: loadRdStation,
      gravacoes: loadRecording,
      auditoria: () => loadAudit(true),
    }[name];
    load().catch(report);
  }

  async function start() {
    session = await call(`${API}/session`);
    $("empresa").textContent = session.tenant.name;
    $("admin").textContent = session.admin.name;
    $("ligacoes").hidden = !session.admin.manager;
    const invite = $("convidar");
    options(invite.elements.role, session.roles, "agent");
    options(invite.elements.phone, session.phones, "browser");
    await loadPeople();
  }

  for (const tab of document.querySelectorAll(".aba")) {
    tab.addEventListener("click", () => showTab(tab.dataset.aba));
  }

  let searchTimer = null;
  $("busca").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadPeople().catch(report), 250);
  });

  $("convidar").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const f = form.elements;
    try {
      const answer = await call(`${API}/people`, {
        method: "POST",
        body: {
          name: f.name.value,
          email: f.email.value,
          extension: f.extension.value,
          role: f.role.value,
          phone: f.phone.value,
          admin: f.admin.checked,
          crm_user_id: f.crm_user_id.value,
        },
      });
      showLinks([answer]);
      say(answer.warning || (answer.link.mailed
        ? `Convite enviado por e-mail para ${answer.person.email}.`
        : `${answer.person.name} foi adicionado(a): envie o link de convite abaixo.`));
      form.reset();
      await loadPeople();
    } catch (error) {
      report(error);
    }
  });

  $("importar").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = event.target.elements.arquivo.files[0];
    if (!file) return;
    try {
      const answer = await call(`${API}/people/import`, { method: "POST", body: await file.text(), type: "text/csv" });
      showLinks(answer.people);
      say(`${answer.imported} pessoa(s) importada(s) e convidada(s).`);
      event.target.reset();
      await loadPeople();
    } catch (error) {
      report(error);
    }
  });

  $("novo-resultado").addEventListener("click", () => {
    const row = outcomeRow({ label: "" });
    $("lista-resultados").append(row);
    row.querySelector("input").focus();
  });
  $("form-resultados").addEventListener("submit", async (event) => {
    event.preventDefault();
    const dispositions = [...$("lista-resultados").children].map((row) => ({
      id: row.dataset.id || null,
      label: row.querySelector("input").value,
    }));
    try {
      showOutcomes(await call(`${API}/dispositions`, { method: "PUT", body: { dispositions } }));
      say("Resultados salvos. Valem para as próximas ligações.");
    } catch (error) {
      report(error);
    }
  });

  $("politica").addEventListener("submit", async (event) => {
    event.preventDefault();
    const policy = {};
    for (const input of event.target.querySelectorAll("input[type=checkbox]")) policy[input.name] = input.checked;
    try {
      showPolicy(await call(`${API}/policy`, { method: "PUT", body: policy }));
      say("Destinos salvos. Valem a partir do próximo clique.");
    } catch (error) {
      report(error);
    }
  });

  $("discagem").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    try {
      const registering = f.trunk_mode.value === "registration";
      const body = {
        trunk_mode: f.trunk_mode.value,
        trunk_username: registering ? f.trunk_username.value : undefined,
        trunk_password: registering && f.trunk_password.value ? f.trunk_password.value : undefined,
        trunk_host: f.trunk_host.value,
        trunk_port: Number(f.trunk_port.value),
        number_format: f.number_format.value,
        national_prefix: f.national_prefix.value,
        caller_id: f.caller_id.value,
        lead_ring_secs: Number(f.lead_ring_secs.value),
        area_caller_ids: pairs(f.areas.value, "DDD").map(([area, number]) => ({ area, number })),
        user_caller_ids: pairs(f.vendedores.value, "Vendedor").map(([email, number]) => {
          const person = everyone.find((p) => p.email === email.toLowerCase());
          if (!person) throw new Error(`Vendedor: ninguém da empresa tem o e-mail ${email}.`);
          return { user_id: person.id, number };
        }),
      };
      const answer = await call(`${API}/dialing`, { method: "PUT", body });
      say(answer.warning || "Telefonia salva. Vale a partir da próxima ligação.");
      await loadDialing();
    } catch (error) {
      report(error);
    }
  });

  $("rd-v2").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    try {
      const answer = await call(`${API}/rdstation/v2`, {
        method: "POST",
        body: { client_id: f.client_id.value, client_secret: f.client_secret.value },
      });
      location.assign(answer.authorize_url);
    } catch (error) {
      report(error);
    }
  });

  $("rd-v1").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const owner = await call(`${API}/rdstation/v1`, { method: "POST", body: { token: event.target.elements.token.value } });
      event.target.reset();
      say(`RD Station conectado com o token de ${owner.name} (${owner.organization}).`);
      await loadRdStation();
    } catch (error) {
      report(error);
    }
  });

  $("rd-associar").addEventListener("click", async () => {
    try {
      const answer = await call(`${API}/rdstation/match-users`, { method: "POST" });
      say(`${answer.matched.length} vendedor(es) associado(s) pelo e-mail; ${answer.missing.length} sem usuário no RD Station.`);
      await loadRdStation();
    } catch (error) {
      report(error);
    }
  });

  $("regras-gravacao").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    try {
      const days = f.retention_days.value.trim();
      const rules = await call(`${API}/recording`, {
        method: "PUT",
        body: { enabled: f.enabled.checked, retention_days: days ? Number(days) : null },
      });
      showRecording(rules);
      say(rules.warning || "Regras de gravação salvas.");
    } catch (error) {
      report(error);
    }
  });

  $("aviso-gravacao").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = event.target.elements.arquivo.files[0];
    if (!file) return;
    try {
      const rules = await call(`${API}/recording/announcement`, { method: "POST", body: await file.arrayBuffer(), type: "audio/wav" });
      showRecording(rules);
      event.target.reset();
      say(rules.warning || "Aviso de gravação salvo: vale a partir da próxima ligação.");
    } catch (error) {
      report(error);
    }
  });

  $("aviso-padrao").addEventListener("click", async () => {
    try {
      const rules = await call(`${API}/recording/announcement/default`, { method: "POST" });
      showRecording(rules);
      say(rules.warning || "Aviso padrão escolhido: vale a partir da próxima ligação.");
    } catch (error) {
      report(error);
    }
  });

  $("remover-aviso").addEventListener("click", async () => {
    try {
      showRecording(await call(`${API}/recording/announcement`, { method: "DELETE" }));
      say("Aviso removido.");
    } catch (error) {
      report(error);
    }
  });

  $("mais-auditoria").addEventListener("click", () => loadAudit(false).catch(report));

  $("sair").addEventListener("click", async () => {
    await fetch("/manager/logout", { method: "POST", credentials: "same-origin", headers: SAME_SITE }).catch(() => {});
    toLogin();
  });

  start().catch(report);
})();
