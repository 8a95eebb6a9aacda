// The downloads page: the installer for the visitor's system first (from
// the popup's link, #windows / #macos / #deb / #rpm, or the browser's own
// platform), every other one below. Texts are fixed or file names, set
// with textContent.
"use strict";

(() => {
  const STEP = {
    windows: "Abra o arquivo .msi baixado e siga os passos da instalação.",
    macos: "Abra o arquivo .pkg baixado e siga os passos da instalação.",
    deb: "Instale o arquivo .deb baixado (dois cliques, ou sudo apt install ./arquivo.deb).",
    rpm: "Instale o arquivo .rpm baixado (dois cliques, ou sudo dnf install ./arquivo.rpm).",
  };
  const LABEL = { windows: "Windows", macos: "macOS", deb: "Linux (Debian, Ubuntu)", rpm: "Linux (Fedora, Red Hat)", extension: "Extensão (para o TI)" };

  function system() {
    const asked = location.hash.slice(1);
    if (STEP[asked]) return asked;
    const platform = ((navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || "").toLowerCase();
    if (platform.includes("win")) return "windows";
    if (platform.includes("mac")) return "macos";
    return "deb";
  }

  function link(file) {
    const a = document.createElement("a");
    a.href = `/downloads/${encodeURIComponent(file.name)}`;
    a.textContent = `${file.name} (${Math.max(1, Math.round(file.bytes / 1024 / 1024))} MB)`;
    return a;
  }

  fetch("/downloads/files.json")
    .then((r) => r.json())
    .then((files) => {
      const mine = system();
      const own = files.find((f) => f.kind === mine);
      const download = document.getElementById("baixar");
      if (own) {
        download.replaceWith(link(own));
        document.getElementById("passo-abrir").textContent = STEP[mine];
      } else {
        download.textContent = "nenhum disponível";
        document.getElementById("nenhum").hidden = false;
      }
      document.getElementById("todos").replaceChildren(
        ...files.map((f) => {
          const item = document.createElement("li");
          item.append(`${LABEL[f.kind] || f.kind}: `, link(f));
          return item;
        }),
      );
    })
    .catch(() => {
      document.getElementById("nenhum").hidden = false;
    });
})();
