// The engineer's own account: the OpenSSH keys that log in to the SSH gateway (add, revoke), the
// certificates an administrator signed, and the language the SSH prompt speaks.

import { el } from "../dom.js";
import { t, time } from "../i18n.js";

export function accountView(ctx) {
  const list = el("div", { id: "ssh-keys" });
  const status = el("p", { class: "muted", id: "ssh-status", role: "status" });
  const gateway = el("p", { class: "muted", id: "ssh-gateway" });
  const keyText = el("textarea", { id: "ssh-key-text", rows: 3, maxlength: 16384, spellcheck: false,
    placeholder: "ssh-ed25519 AAAA… you@laptop" });
  const langPick = el("select", { id: "ssh-lang" },
    el("option", { value: "zh-CN" }, "中文"), el("option", { value: "en" }, "English"));

  async function load() {
    try {
      const data = await ctx.api("/api/account/ssh-keys");
      langPick.value = data.lang;
      gateway.textContent = data.ssh_port
        ? t("ssh_how", { cmd: `ssh -p ${data.ssh_port} ${data.username}@${location.hostname}`, fp: data.host_key })
        : t("ssh_off");
      list.replaceChildren(data.keys.length ? el("table", { class: "search" },
        el("thead", {}, el("tr", {}, ...["ssh_kind", "ssh_fingerprint", "ssh_comment", "ssh_state", "created", ""]
          .map((k) => el("th", {}, k ? t(k) : "")))),
        el("tbody", {}, data.keys.map((k) => el("tr", { dataset: { key: k.id } },
          el("td", {}, t(`ssh_kind_${k.kind}`)), el("td", { class: "mono" }, k.fingerprint),
          el("td", {}, k.comment), el("td", {}, k.active ? t("ssh_active") : (k.revoked_at ? t("ssh_revoked") : t("ssh_expired"))),
          el("td", {}, time(k.created_at)),
          el("td", {}, k.active ? el("button", { class: "revoke", onclick: () => revoke(k.id) }, t("ssh_revoke")) : "")))))
        : el("p", { class: "muted" }, t("ssh_none")));
    } catch (err) {
      status.textContent = t("error", { msg: err.message });
    }
  }

  async function add(e) {
    e.preventDefault();
    try {
      const made = await ctx.api("/api/account/ssh-keys", { method: "POST", json: { public_key: keyText.value } });
      keyText.value = "";
      status.textContent = t("ssh_added", { fp: made.fingerprint });
      await load();
    } catch (err) {
      status.textContent = t("error", { msg: err.message });
    }
  }

  async function revoke(id) {
    try {
      await ctx.api(`/api/account/ssh-keys/${encodeURIComponent(id)}`, { method: "DELETE" });
      status.textContent = t("ssh_revoked");
      await load();
    } catch (err) {
      status.textContent = t("error", { msg: err.message });
    }
  }

  langPick.addEventListener("change", async () => {
    try {
      await ctx.api("/api/account/lang", { method: "PUT", json: { lang: langPick.value } });
      status.textContent = t("ssh_lang_saved");
    } catch (err) {
      status.textContent = t("error", { msg: err.message });
    }
  });

  load();
  const form = el("form", { id: "ssh-add", onsubmit: add }, el("label", {}, t("ssh_add_label"), keyText),
    el("button", { type: "submit", class: "primary", id: "ssh-add-go" }, t("ssh_add")));
  return {
    root: el("section", { class: "view" }, el("h1", {}, t("account_title")), el("h2", {}, t("ssh_title")), gateway,
      list, form, el("label", {}, t("ssh_lang"), langPick), status),
    destroy() {},
  };
}
