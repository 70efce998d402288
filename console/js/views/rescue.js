// Rescue requests (docs/rescue.md), shown only in a session with a rescue device: disk inventory first;
// its disks and partitions then fill the device choices of the other four (file-system check, data
// rescue to the user's USB disk, Linux boot repair, writing a pushed OS image). Each is a request like
// any other: the user allows it on the rescue screen, and the image write asks them to type the disk's
// name as well. What comes back is metadata and verdicts only (protocol/actions.py's outcome models).

import { bytes, t } from "../i18n.js";
import { el } from "../dom.js";

// The newest inventory in this session (the engineer may have run it more than once).
function latestDisks(record) {
  const done = [...record.actions.values()].filter((a) => a.outcome?.kind === "rescue_inventory");
  return done.length ? done[done.length - 1].outcome.disks : [];
}

// Files this session pushed that the agent stored and whose hash matched: what may be written to a disk.
function pushedImages(record) {
  return [...record.actions.values()]
    .filter((a) => a.outcome?.kind === "push_file" && a.outcome.sha256 === a.action.sha256)
    .map((a) => ({ name: a.outcome.saved_as, sha256: a.outcome.sha256, size: a.outcome.size }));
}

function diskLabel(d) {
  return `${d.device} · ${bytes(d.size)}${d.model ? ` · ${d.model}` : ""}${d.removable ? ` · ${t("rescue_removable")}` : ""}`;
}

function partLabel(p) {
  const bits = [p.device, bytes(p.size), p.fstype, p.label, p.os].filter(Boolean);
  return bits.join(" · ");
}

function fill(select, placeholder, options) {
  const keep = select.value;
  select.replaceChildren(el("option", { value: "" }, placeholder),
    ...options.map(([value, text]) => el("option", { value }, text)));
  if (options.some(([value]) => value === keep)) select.value = keep;
}

export function rescuePanel(ctx, record, why) {
  const store = ctx.store;
  const ask = (action) => store.request(record.sid, action, why());

  const inventory = el("button", { type: "button", id: "req-rescue-inventory", onclick: () => ask({ kind: "rescue_inventory" }) },
    t("rescue_req_inventory"));
  const hint = el("p", { class: "muted small", id: "rescue-hint" }, t("rescue_inventory_first"));

  const fsckDevice = el("select", { id: "rescue-fsck-device", "aria-label": t("rescue_partition") });
  const fsckRepair = el("input", { type: "checkbox", id: "rescue-fsck-repair" });
  const fsck = el("button", { type: "button", id: "req-rescue-fsck", onclick: () => {
    if (fsckDevice.value) ask({ kind: "rescue_fsck", device: fsckDevice.value, repair: fsckRepair.checked });
  } }, t("rescue_req_fsck"));

  const copySource = el("select", { id: "rescue-copy-source", "aria-label": t("rescue_copy_from") });
  const copyFolders = el("input", { type: "text", id: "rescue-copy-folders", maxlength: 4000,
    placeholder: t("rescue_folders_placeholder") });
  const copyTarget = el("select", { id: "rescue-copy-target", "aria-label": t("rescue_copy_to") });
  const copy = el("button", { type: "button", id: "req-rescue-copy", onclick: () => {
    const folders = copyFolders.value.split(/[\n,]/).map((f) => f.trim()).filter(Boolean);
    if (!copySource.value || !copyTarget.value || !folders.length) return;
    ask({ kind: "rescue_copy", source: copySource.value, folders, target: copyTarget.value });
  } }, t("rescue_req_copy"));

  const repairDisk = el("select", { id: "rescue-boot-disk", "aria-label": t("rescue_disk") });
  const repairRoot = el("select", { id: "rescue-boot-root", "aria-label": t("rescue_root") });
  const bootRepair = el("button", { type: "button", id: "req-rescue-boot", onclick: () => {
    if (!repairDisk.value) return;
    ask({ kind: "rescue_boot_repair", disk: repairDisk.value, root: repairRoot.value || null });
  } }, t("rescue_req_boot"));

  const image = el("select", { id: "rescue-image-file", "aria-label": t("rescue_image") });
  const imageDisk = el("select", { id: "rescue-image-disk", "aria-label": t("rescue_disk") });
  const write = el("button", { type: "button", class: "danger", id: "req-rescue-write", onclick: () => {
    const chosen = pushedImages(record).find((f) => f.name === image.value);
    if (!chosen || !imageDisk.value) return;
    ask({ kind: "rescue_write_image", image: chosen.name, sha256: chosen.sha256, disk: imageDisk.value });
  } }, t("rescue_req_write"));

  const root = el("div", { class: "panel rescue-requests", id: "rescue-requests" },
    el("h2", {}, t("rescue_requests")), hint,
    el("div", { class: "row" }, inventory),
    el("div", { class: "row" }, fsckDevice, el("label", {}, fsckRepair, t("rescue_fsck_repair")), fsck),
    el("div", { class: "row" }, copySource, copyFolders, copyTarget, copy),
    el("div", { class: "row" }, repairDisk, repairRoot, bootRepair),
    el("div", { class: "row" }, image, imageDisk, write),
    el("p", { class: "muted small" }, t("rescue_write_note")));

  // Refill the choices from the newest inventory and the pushed files; keep what the engineer picked.
  function refresh() {
    const disks = latestDisks(record);
    const parts = disks.flatMap((d) => d.partitions.map((p) => [p.device, partLabel(p)]));
    const whole = disks.map((d) => [d.device, diskLabel(d)]);
    fill(fsckDevice, t("rescue_partition"), parts);
    fill(copySource, t("rescue_copy_from"), parts);
    fill(copyTarget, t("rescue_copy_to"), disks.filter((d) => d.removable).flatMap((d) =>
      d.partitions.length ? d.partitions.map((p) => [p.device, partLabel(p)]) : [[d.device, diskLabel(d)]]));
    fill(repairDisk, t("rescue_disk"), whole);
    fill(repairRoot, t("rescue_root_auto"), disks.flatMap((d) => d.partitions.filter((p) => p.os).map((p) => [p.device, partLabel(p)])));
    fill(imageDisk, t("rescue_disk"), whole);
    fill(image, t("rescue_image"), pushedImages(record).map((f) => [f.name, `${f.name} · ${bytes(f.size)}`]));
    hint.hidden = disks.length > 0;
  }
  refresh();
  const controls = [inventory, fsckDevice, fsckRepair, fsck, copySource, copyFolders, copyTarget, copy,
    repairDisk, repairRoot, bootRepair, image, imageDisk, write];
  return { root, controls, refresh };
}

// What a rescue action's outcome shows the engineer: metadata and verdicts, as the agent sent them.
export function rescueOutcome(o) {
  if (o.kind === "rescue_inventory") {
    return el("table", { class: "rescue-disks" },
      el("thead", {}, el("tr", {}, ["rescue_col_device", "rescue_col_size", "rescue_col_what", "rescue_col_smart"]
        .map((k) => el("th", {}, t(k))))),
      el("tbody", {}, o.disks.flatMap((d) => [
        el("tr", { class: "disk" }, el("td", {}, d.device), el("td", {}, bytes(d.size)),
          el("td", {}, [d.model, d.removable ? t("rescue_removable") : null].filter(Boolean).join(" · ")),
          el("td", { class: d.smart === "FAILED" ? "error" : "" }, d.smart || "—")),
        ...d.partitions.map((p) => el("tr", { class: "partition" }, el("td", {}, `└ ${p.device}`),
          el("td", {}, bytes(p.size)), el("td", {}, [p.fstype, p.label, p.os].filter(Boolean).join(" · ")),
          el("td", {}, ""))),
      ])));
  }
  if (o.kind === "rescue_copy") {
    const good = o.failed === 0 && o.verified === o.files;
    return el("p", { class: good ? "good rescue-copied" : "warn rescue-copied" },
      t("rescue_copied", { files: o.files, size: bytes(o.bytes), verified: o.verified, failed: o.failed, folder: o.folder }));
  }
  if (o.kind === "rescue_fsck") {
    const key = o.repaired ? "rescue_fsck_repaired" : o.clean ? "rescue_fsck_clean" : "rescue_fsck_errors";
    return el("p", { class: o.clean ? "good rescue-fsck" : "warn rescue-fsck" },
      t(key, { device: o.device, fstype: o.fstype || "?", code: o.exit_code }));
  }
  if (o.kind === "rescue_boot_repair") {
    const done = [o.bios ? "BIOS" : null, o.efi ? "UEFI" : null, o.menu ? t("rescue_boot_menu") : null].filter(Boolean);
    return el("div", { class: "rescue-boot" },
      el("p", { class: done.length ? "good" : "warn" },
        t("rescue_boot_done", { system: o.system || "Linux", root: o.root, done: done.join(" · ") || "—" })),
      o.commands.length ? el("pre", { class: "output small" }, o.commands.join("\n")) : null,
      o.backup ? el("p", { class: "small rescue-boot-backup" }, t("rescue_boot_backup", { path: o.backup })) : null);
  }
  if (o.kind === "rescue_write_image") {
    const key = !o.confirmed ? "write_image_cancelled" : o.verified ? "write_image_done" : "write_image_bad";
    return el("p", { class: o.verified ? "good write-image" : "warn write-image" }, t(key, { disk: o.disk, size: bytes(o.image_bytes) }));
  }
  return null;
}
