// The user's screen in a session: request a view (the engineer picks the monitor), see it on a canvas
// scaled to the page, request control (a second consent), use the mouse and keyboard on the canvas,
// type text (Chinese too) through a field, stop either, save a screenshot to this PC. Frames and the
// bandwidth come from the link (SPEC §5a); tiles are drawn in order, each frame over the last.

import { t } from "../i18n.js";
import { el } from "../dom.js";

// Browser key names → X11 keysym names (SPEC §5a `key`); printable keys go as text.
const KEYS = {
  Enter: "Return", Backspace: "BackSpace", Tab: "Tab", Escape: "Escape", Delete: "Delete", Insert: "Insert",
  ArrowLeft: "Left", ArrowRight: "Right", ArrowUp: "Up", ArrowDown: "Down", Home: "Home", End: "End",
  PageUp: "Prior", PageDown: "Next", Control: "Control_L", Shift: "Shift_L", Alt: "Alt_L", Meta: "Super_L",
  ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`F${i + 1}`, `F${i + 1}`])),
};

export function screenPanel(ctx, record) {
  const store = ctx.store;
  const sid = record.sid;
  const canvas = el("canvas", { id: "screen-canvas", class: "screen-canvas", tabindex: 0, width: 16, height: 9,
    "aria-label": t("screen") });
  const g = canvas.getContext("2d");
  const idle = el("p", { class: "muted", id: "screen-idle" }, t("screen_idle"));
  const stats = el("span", { class: "muted small", id: "screen-stats" });
  const monitors = el("span", { class: "muted small", id: "screen-monitors" });
  const monitor = el("select", { id: "screen-monitor", "aria-label": t("monitor") },
    ...Array.from({ length: 4 }, (_, i) => el("option", { value: i }, `${t("monitor")} ${i + 1}`)));
  const viewButton = el("button", { type: "button", id: "req-screen", onclick: () =>
    store.viewScreen(sid, Number(monitor.value) || 0, t("screen_why")) }, t("view_screen"));
  const controlButton = el("button", { type: "button", id: "req-control", onclick: () => {
    const view = store.running(sid, "screen_view");
    if (view) store.requestControl(sid, view.id, t("control_why"));
  } }, t("request_control"));
  const stopView = el("button", { type: "button", id: "stop-screen", class: "danger", onclick: () => {
    const view = store.running(sid, "screen_view");
    if (view) store.stopAction(sid, view.id);
  } }, t("stop_view"));
  const stopControl = el("button", { type: "button", id: "stop-control", onclick: () => {
    const control = store.running(sid, "screen_control");
    if (control) store.stopAction(sid, control.id);
  } }, t("stop_control"));
  const shot = el("button", { type: "button", id: "screenshot", onclick: () => {
    canvas.toBlob((blob) => {
      if (!blob) return;
      const a = el("a", { href: URL.createObjectURL(blob), download: `rme-screen-${sid}-${Date.now()}.png` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    }, "image/png");
  } }, t("screenshot"));
  const text = el("input", { type: "text", id: "screen-text", maxlength: 1000, placeholder: t("type_text") });
  const controlNote = el("span", { class: "good small", id: "control-on" }, t("control_on"));
  const root = el("div", { class: "panel screen", id: "screen-panel" }, el("h2", {}, t("screen")),
    el("div", { class: "row" }, monitor, viewButton, controlButton, stopControl, stopView, shot),
    el("div", { class: "row" }, stats, " ", monitors, " ", controlNote),
    idle, canvas, el("div", { class: "row" }, text));

  // -- frames in
  let chain = Promise.resolve();
  let frames = 0, bytesIn = 0, shown = false;
  const offFrames = store.onScreen((frame) => {
    const view = record.actions.get(frame.actionId);
    if (!view) return; // another session's view
    frames += 1;
    bytesIn += frame.size;
    chain = chain.then(async () => {
      const images = await Promise.all(frame.tiles.map((tile) =>
        createImageBitmap(new Blob([tile.jpeg], { type: "image/jpeg" }))));
      if (canvas.width !== frame.width || canvas.height !== frame.height) {
        canvas.width = frame.width;
        canvas.height = frame.height;
      }
      frame.tiles.forEach((tile, i) => { g.drawImage(images[i], tile.x, tile.y, tile.w, tile.h); images[i].close(); });
      if (!shown) { shown = true; draw(); }
      canvas.dataset.frames = String(Number(canvas.dataset.frames || 0) + 1);
    }).catch((err) => console.warn("screen frame not drawn:", err.message));
  });
  const meter = setInterval(() => {
    stats.textContent = t("screen_stats", { fps: frames, mbps: (bytesIn * 8 / 1e6).toFixed(2) });
    frames = 0;
    bytesIn = 0;
  }, 1000);

  // -- input out (only while control runs)
  const control = () => store.running(sid, "screen_control");
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    const x = Math.round((e.clientX - r.left) * canvas.width / r.width);
    const y = Math.round((e.clientY - r.top) * canvas.height / r.height);
    return { x: Math.max(0, Math.min(canvas.width - 1, x)), y: Math.max(0, Math.min(canvas.height - 1, y)) };
  };
  const send = (events) => { const c = control(); if (c) store.screenInput(sid, c.id, events); };
  let lastMove = 0;
  canvas.addEventListener("mousemove", (e) => {
    const now = performance.now();
    if (now - lastMove < 30 || !control()) return;
    lastMove = now;
    send([{ type: "move", ...at(e) }]);
  });
  const button = (e, down) => {
    if (!control()) return;
    e.preventDefault();
    canvas.focus();
    send([{ type: "button", ...at(e), button: [1, 2, 3][e.button] || 1, down }]);
  };
  canvas.addEventListener("mousedown", (e) => button(e, true));
  canvas.addEventListener("mouseup", (e) => button(e, false));
  canvas.addEventListener("contextmenu", (e) => { if (control()) e.preventDefault(); });
  canvas.addEventListener("wheel", (e) => {
    if (!control()) return;
    e.preventDefault();
    send([{ type: "wheel", ...at(e), dy: Math.max(-20, Math.min(20, Math.sign(e.deltaY) * Math.max(1, Math.round(Math.abs(e.deltaY) / 100)))) }]);
  }, { passive: false });
  const key = (e, down) => {
    if (!control() || e.isComposing) return;
    e.preventDefault();
    if (e.key.length === 1 && !e.ctrlKey && !e.altKey && !e.metaKey) {
      if (down) send([{ type: "text", text: e.key }]);
      return;
    }
    const name = KEYS[e.key] || (/^[A-Za-z0-9]$/.test(e.key) ? e.key.toLowerCase() : null);
    if (name) send([{ type: "key", key: name, down }]);
  };
  canvas.addEventListener("keydown", (e) => key(e, true));
  canvas.addEventListener("keyup", (e) => key(e, false));
  text.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.isComposing || !text.value) return;
    e.preventDefault();
    send([{ type: "text", text: text.value }]);
    text.value = "";
  });

  function draw() {
    const active = record.state === "active" && !record.away;
    const view = store.running(sid, "screen_view");
    const ctl = control();
    viewButton.disabled = !active || Boolean(view);
    monitor.disabled = viewButton.disabled;
    controlButton.disabled = !active || !view || Boolean(ctl);
    stopView.disabled = !view;
    stopControl.disabled = !ctl;
    text.disabled = !ctl;
    controlNote.hidden = !ctl;
    canvas.classList.toggle("controlled", Boolean(ctl));
    canvas.hidden = !shown;
    idle.hidden = shown;
    shot.disabled = !shown;
    const p = view && view.progress;
    monitors.textContent = p && p.total ? t("screen_monitors", { n: (p.done || 0) + 1, of: p.total }) : "";
    if (p && p.total) for (const o of monitor.options) o.hidden = Number(o.value) >= p.total;
  }
  const off = store.on((what) => { if (what === "session" || what === "actions") draw(); });
  draw();
  return { root, destroy() { off(); offFrames(); clearInterval(meter); } };
}
