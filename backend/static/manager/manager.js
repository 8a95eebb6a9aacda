// The manager page: the dashboard (figures, server-drawn charts and the
// tables behind them), the team's calls, filters, paging, recordings, the
// state of each call's note in the CRM (with "Tentar de novo" for stopped
// ones) and the CSV export. Every text comes from the backend's JSON and is
// set with textContent or attributes; nothing is parsed as HTML.
"use strict";

(() => {
  /** State-changing requests carry this header (the backend's CSRF check). */
  const SAME_SITE = { "x-disca-manager": "1" };
  const FILTERS = ["user", "from", "to", "outcome", "crm"];
  const POLL_MS = 3000;

  const $ = (id) => document.getElementById(id);
  const form = $("filtros");
  const rows = document.querySelector("#ligacoes tbody");
  const more = $("mais");
  const notice = $("aviso");
  const empty = $("vazio");
  const exportLink = $("exportar");

  const { LoggedOut, toLogin, el } = DiscaPage;
  const getJson = DiscaPage.fetchJson;
  const { say, report } = DiscaPage.notices(notice);

  let cursor = null;
  const watched = new Set();
  let pollTimer = null;

  function fill(select, choices) {
    for (const { value, label } of choices) {
      select.append(el("option", { text: label, attrs: { value } }));
    }
  }

  function query() {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form.elements[name].value;
      if (value) params.set(name, value);
    }
    return params;
  }

  function showQuery(params) {
    for (const name of FILTERS) form.elements[name].value = params.get(name) || "";
  }

  function dealCell(call) {
    const cell = el("td", { cls: "negocio" });
    if (call.deal_url) {
      cell.append(el("a", {
        text: "Abrir negócio",
        attrs: { href: call.deal_url, target: "_blank", rel: "noopener noreferrer", title: call.deal_id },
      }));
    } else {
      cell.textContent = call.deal_id || "—";
    }
    return cell;
  }

  function recordingCell(call) {
    const cell = el("td", { cls: "gravacao" });
    if (call.recording_url) {
      cell.append(el("audio", { attrs: { controls: "", preload: "metadata", src: call.recording_url } }));
    } else {
      cell.textContent = "—";
    }
    return cell;
  }

  function crmCell(call) {
    const crm = call.crm;
    const cell = el("td", { cls: "crm " + (crm.state || "ao-vivo") });
    const line = el("span", { cls: "situacao" }, el("strong", { text: crm.label }));
    if (crm.error) line.append(el("span", { cls: "erro-crm", text: ": " + crm.error }));
    cell.append(line);
    if (crm.detail) cell.append(el("small", { cls: "detalhe", text: crm.detail }));
    if (crm.retryable) {
      const button = el("button", { cls: "tentar secundario", text: "Tentar de novo", attrs: { type: "button" } });
      button.addEventListener("click", () => retry(call.id, button));
      cell.append(button);
    }
    return cell;
  }

  function row(call) {
    // Calls still live, and notes on their way, are read again shortly.
    if (!call.crm.state || call.crm.state === "pending") watch(call.id);
    return el("tr", { attrs: { "data-call-id": call.id, "data-crm": call.crm.state || "" } },
      el("td", { cls: "quando", text: call.when }),
      el("td", { text: call.salesperson }),
      el("td", { cls: "numero", text: call.number }),
      el("td", { text: call.contact || "—" }),
      dealCell(call),
      resultCell(call),
      durationCell(call, call.ring),
      durationCell(call, call.talk),
      recordingCell(call),
      crmCell(call));
  }

  /** How the call ended; a number the network says is wrong is flagged, to fix it in the CRM;
   *  below, what the salesperson said after the call. */
  function resultCell(call) {
    const cell = el("td", { cls: "resultado " + (call.outcome || "ao-vivo"), text: call.outcome_label });
    if (call.number_problem) cell.append(el("div", { cls: "numero-errado", text: call.number_problem }));
    const said = call.report;
    if (said) {
      const box = el("div", { cls: "relato" });
      if (said.outcome) box.append(el("strong", { text: said.outcome }));
      if (said.note) box.append(el("span", { cls: "anotacao", text: said.note }));
      if (said.follow_up) box.append(el("span", { cls: "retorno", text: "Retorno: " + said.follow_up }));
      cell.append(box);
    }
    return cell;
  }

  // An estimated duration says so where it is shown (title and class).
  function durationCell(call, text) {
    if (!call.durations_estimated) return el("td", { cls: "num", text });
    return el("td", { cls: "num estimada", text, attrs: { title: call.durations_note } });
  }

  function replace(call) {
    const old = rows.querySelector(`tr[data-call-id="${CSS.escape(call.id)}"]`);
    if (old) old.replaceWith(row(call));
  }

  function watch(id) {
    watched.add(id);
    if (!pollTimer) pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    pollTimer = null;
    const ids = [...watched];
    watched.clear();
    for (const id of ids) {
      try {
        replace(await getJson(`/manager/api/calls/${encodeURIComponent(id)}`));
      } catch (error) {
        if (error instanceof LoggedOut) return;
      }
    }
  }

  async function retry(id, button) {
    button.disabled = true;
    say("");
    try {
      const call = await getJson(`/manager/api/calls/${encodeURIComponent(id)}/crm/retry`, {
        method: "POST",
        headers: SAME_SITE,
      });
      replace(call);
    } catch (error) {
      report(error);
      button.disabled = false;
    }
  }

  async function load(append) {
    const params = query();
    if (append && cursor) params.set("cursor", cursor);
    more.disabled = true;
    try {
      const page = await getJson("/manager/api/calls?" + params);
      if (!append) rows.replaceChildren();
      rows.append(...page.calls.map(row));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      empty.hidden = rows.children.length > 0;
      say("");
    } catch (error) {
      report(error);
    } finally {
      more.disabled = false;
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    }
  }

  const percent = (rate) => (rate === null || rate === undefined ? "–" : `${Math.round(rate * 100)}%`);
  function duration(seconds) {
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
    return `${s} s`;
  }
  const cells = (values, numeric) => values.map((v, i) => el(i === 0 ? "th" : "td", { cls: i > 0 && numeric ? "num" : "", text: String(v) }));

  const dashboardNotice = $("painel-aviso");
  /** Each load's number: a reply to an older one is dropped. */
  let dashboardLoads = 0;

  /** Empties the figures, charts and tables (a period the backend refused). */
  function clearDashboard() {
    for (const id of ["kpi-ligacoes", "kpi-atendidas", "kpi-taxa", "kpi-conversa", "kpi-media"]) $(id).textContent = "–";
    $("painel-periodo").textContent = "";
    for (const img of document.querySelectorAll("#painel img")) img.removeAttribute("src");
    for (const body of document.querySelectorAll("#painel tbody")) body.replaceChildren();
  }

  /** The dashboard for the salesperson and period chosen (the other filters do not apply). */
  async function loadDashboard() {
    const load = ++dashboardLoads;
    const params = new URLSearchParams();
    for (const name of ["user", "from", "to"]) {
      const value = form.elements[name].value;
      if (value) params.set(name, value);
    }
    try {
      const d = await getJson("/manager/api/dashboard?" + params);
      if (load !== dashboardLoads) return;
      dashboardNotice.hidden = true;
      const shown = new URLSearchParams({ from: d.from, to: d.to });
      if (d.user) shown.set("user", d.user);
      $("exportar-painel").href = `/manager/dashboard.csv?${shown}`;
      // A new address for every load, so the browser draws the charts anew.
      shown.set("carga", String(load));
      $("painel-periodo").textContent = `${d.from.split("-").reverse().join("/")} a ${d.to.split("-").reverse().join("/")}`;
      $("kpi-ligacoes").textContent = String(d.totals.calls);
      $("kpi-atendidas").textContent = String(d.totals.answered);
      $("kpi-taxa").textContent = percent(d.totals.answer_rate);
      $("kpi-conversa").textContent = duration(d.totals.talk_seconds);
      $("kpi-media").textContent = d.totals.average_talk_seconds === null ? "–" : duration(d.totals.average_talk_seconds);
      for (const chart of ["ranking", "dias", "horas"]) {
        const file = { ranking: "ranking", dias: "days", horas: "hours" }[chart];
        $("grafico-" + chart).src = `/manager/api/dashboard/${file}.svg?${shown}`;
      }
      document.querySelector("#tabela-ranking tbody").replaceChildren(...d.ranking.map((r) =>
        el("tr", {}, ...cells([r.name, r.calls, r.answered, percent(r.answer_rate), duration(r.talk_seconds)], true))));
      document.querySelector("#tabela-dias thead tr").replaceChildren(
        ...cells(["Dia", "Total", ...d.outcomes.map((o) => o.label)], true));
      document.querySelector("#tabela-dias tbody").replaceChildren(...d.days.map((day) =>
        el("tr", {}, ...cells([day.label, day.calls, ...day.outcomes.map((o) => o.calls)], true))));
      document.querySelector("#tabela-relatos tbody").replaceChildren(...d.reported.map((r) =>
        el("tr", {}, ...cells([r.label, r.calls], true))));
      $("relatos-vazio").hidden = d.reported.length > 0;
      document.querySelector("#tabela-horas thead tr").replaceChildren(
        ...cells(["Dia", ...Array.from({ length: 24 }, (_, h) => `${h}h`)], true));
      document.querySelector("#tabela-horas tbody").replaceChildren(...d.hours.map((w) =>
        el("tr", {}, ...cells([w.weekday, ...w.hours.map((c) => (c.calls ? `${percent(c.answer_rate)} de ${c.calls}` : "–"))], true))));
      document.body.dataset.dashboard = String(Number(document.body.dataset.dashboard || 0) + 1);
    } catch (error) {
      if (error instanceof LoggedOut) return report(error);
      if (load !== dashboardLoads) return;
      clearDashboard();
      dashboardNotice.textContent = `Painel: ${error.message}`;
      dashboardNotice.hidden = false;
    }
  }

  function apply() {
    loadDashboard();
    const params = query();
    const search = params.toString();
    history.replaceState(null, "", search ? "?" + search : location.pathname);
    exportLink.href = "/manager/calls.csv" + (search ? "?" + search : "");
    return load(false);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  $("limpar").addEventListener("click", () => {
    showQuery(new URLSearchParams());
    apply();
  });
  more.addEventListener("click", () => load(true));
  $("sair").addEventListener("click", async () => {
    try {
      await fetch("/manager/logout", { method: "POST", credentials: "same-origin", headers: SAME_SITE });
    } finally {
      location.assign("/manager/login");
    }
  });

  async function start() {
    try {
      const info = await getJson("/manager/api/session");
      $("empresa").textContent = info.tenant.name;
      $("gestor").textContent = info.manager.name;
      $("administracao").hidden = !info.admin;
      fill(form.elements.user, info.team.map((person) => ({ value: person.id, label: person.name })));
      fill(form.elements.outcome, info.outcomes);
      fill(form.elements.crm, info.crm_states);
      showQuery(new URLSearchParams(location.search));
      await apply();
    } catch (error) {
      report(error);
    }
  }

  start();
})();
