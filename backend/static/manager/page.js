// What the manager page and the admin console share: the JSON requests
// with the session cookie (a lost session goes to the login and comes
// back), the notice line, and building elements whose texts are set with
// textContent, never parsed as HTML. Loaded before each page's own script.
"use strict";

const DiscaPage = (() => {
  /** Thrown when the session is gone and the browser is on its way to the login. */
  class LoggedOut extends Error {}

  function toLogin() {
    const here = location.pathname + location.search;
    location.assign("/manager/login?next=" + encodeURIComponent(here));
  }

  /** `fetch` with the session cookie: the JSON answer, or the error's Portuguese message. */
  async function fetchJson(url, options = {}) {
    const response = await fetch(url, { credentials: "same-origin", ...options });
    if (response.status === 401) {
      toLogin();
      throw new LoggedOut();
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error(data?.error?.message || `Erro ${response.status}. Tente de novo.`);
    }
    return data;
  }

  /** `say` shows a message in `notice` (empty: hides it); `report` shows an error's. */
  function notices(notice) {
    function say(message) {
      notice.textContent = message;
      notice.hidden = !message;
    }
    function report(error) {
      if (!(error instanceof LoggedOut)) say(error.message);
    }
    return { say, report };
  }

  /** An element with a class, a text, attributes and children. */
  function el(tag, { cls, text, attrs } = {}, ...children) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  return { LoggedOut, toLogin, fetchJson, notices, el };
})();
