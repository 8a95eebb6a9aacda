// The live board ("Agora"): who is on a call right now, ringing or
// talking, for how long, to which contact and deal. It follows
// `/manager/api/live` (Server-Sent Events on the session): the first
// message is the whole board, then each row that moved on and each call
// that ended. The clock counts on in the page from the seconds the server
// sent, so the browser's clock need not be right. Texts are set with
// textContent; nothing is parsed as HTML.
"use strict";

(() => {
  const { el, toLogin } = DiscaPage;
  const body = document.querySelector("#ao-vivo tbody");
  const nobody = document.getElementById("ninguem");
  const summary = document.getElementById("agora-resumo");
  const { say } = DiscaPage.notices(document.getElementById("agora-aviso"));

  /** Call id → { row (as sent), tr, phaseFrom (ms on the page's clock) }. */
  const shown = new Map();

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  }

  function dealCell(row) {
    const cell = el("td", { cls: "negocio" });
    if (row.deal_url) {
      cell.append(el("a", {
        text: "Abrir negócio",
        attrs: { href: row.deal_url, target: "_blank", rel: "noopener noreferrer" },
      }));
    } else {
      cell.textContent = "—";
    }
    return cell;
  }

  function line(row) {
    const tr = el("tr", { cls: row.talking ? "falando" : "chamando" },
      el("td", { text: row.salesperson }),
      el("td", { cls: "fase", text: row.phase }),
      el("td", { cls: "num tempo" }),
      el("td", { cls: "numero", text: row.number }),
      el("td", { text: row.contact || "—" }),
      dealCell(row));
    tr.dataset.callId = row.id;
    return tr;
  }

  function tick() {
    const now = performance.now();
    let talking = 0;
    for (const entry of shown.values()) {
      entry.tr.querySelector(".tempo").textContent = clock((now - entry.phaseFrom) / 1000);
      if (entry.row.talking) talking += 1;
    }
    const total = shown.size;
    nobody.hidden = total > 0;
    summary.textContent = total === 0
      ? ""
      : `${talking} em conversa · ${total - talking} chamando`;
  }

  function show(row) {
    const entry = { row, tr: line(row), phaseFrom: performance.now() - row.phase_seconds * 1000 };
    const old = shown.get(row.id);
    if (old) old.tr.replaceWith(entry.tr);
    else body.append(entry.tr);
    shown.set(row.id, entry);
  }

  function leave(id) {
    const old = shown.get(id);
    if (old) old.tr.remove();
    shown.delete(id);
  }

  function replace(board) {
    for (const id of [...shown.keys()]) leave(id);
    for (const row of board) show(row);
  }

  const source = new EventSource("/manager/api/live");
  source.addEventListener("open", () => say(""));
  source.addEventListener("message", (event) => {
    let update;
    try {
      update = JSON.parse(event.data);
    } catch {
      return;
    }
    if (update.board) replace(update.board);
    else if (update.row) show(update.row);
    else if (update.ended) leave(update.ended);
    tick();
    document.body.dataset.board = "live";
  });
  source.addEventListener("error", async () => {
    if (source.readyState !== EventSource.CLOSED) {
      say("Conexão com o quadro ao vivo perdida. Reconectando…");
      return;
    }
    // Refused: the session ended (log in again) or too many open pages.
    const answer = await fetch("/manager/api/session", { credentials: "same-origin" }).catch(() => null);
    if (answer && answer.status === 401) toLogin();
    else say("O quadro ao vivo parou. Feche outras abas do Disca e recarregue a página.");
  });

  setInterval(tick, 1000);
})();
