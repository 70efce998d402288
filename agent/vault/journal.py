"""The write-ahead journal, and recovery: finish or roll back the step a crash interrupted.

At most one step is in flight (steps run under the operation lock). Before a step touches anything it
writes its intent to `journal.json` (fsynced, atomically replaced); the metadata write is the step's
commit point; the journal is removed last. So at the next start:

  close (add is a close that also registers the folder), intent: move P → Q, encrypt Q into generation G
    committed (vault.json names G for the folder)  → finish: delete the plaintext Q
    not committed                                  → roll back: delete G, move Q back to P
  open (remove is an open that also unregisters), intent: decrypt G into S, rename S → T
    committed (folder open, or gone for remove)     → finish: delete G
    S still there                                   → roll back: delete the plaintext S
    S gone, phase "renaming", T there               → the rename happened: commit, delete G

Either way no file is lost (the plaintext is only deleted once G is committed, G only once the plaintext
is in place) and no plaintext is left behind (Q and S are deleted or become the user's folder again).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.i18n import Lang, Text
from agent.vault.durable import atomic_write, free_name, fsync_dir, remove_file, remove_tree
from agent.vault.lock import clear_session, read_session_owner
from agent.vault.metadata import Folder, Layout, Metadata

ROLLED_BACK_CLOSE = Text(
    "上次加密 “{name}” 时中断了，已恢复为未加密状态，没有丢失文件",
    "Encrypting “{name}” was interrupted last time; it was put back unencrypted, no file was lost",
)
FINISHED_CLOSE = Text(
    "上次加密 “{name}” 时中断了，已完成加密",
    "Encrypting “{name}” was interrupted last time; it has now been completed",
)
ROLLED_BACK_OPEN = Text(
    "上次打开 “{name}” 时中断了，它仍保持加密",
    "Opening “{name}” was interrupted last time; it stays encrypted",
)
FINISHED_OPEN = Text(
    "上次打开 “{name}” 时中断了，已完成打开",
    "Opening “{name}” was interrupted last time; it has now been completed",
)
MOVED = Text(
    "“{path}” 已被占用，文件夹恢复到了 “{moved}”",
    "“{path}” was taken, so the folder was put back at “{moved}”",
)


@dataclass
class Step:
    doc: dict[str, Any]

    @property
    def op(self) -> str:
        return str(self.doc["op"])

    def path(self, key: str) -> Path:
        return Path(self.doc[key])


def begin(layout: Layout, doc: dict[str, Any]) -> None:
    atomic_write(layout.journal, json.dumps(doc, ensure_ascii=False).encode("utf-8"), crash_name="journal")


def finish(layout: Layout) -> None:
    remove_file(layout.journal)


def pending(layout: Layout) -> Step | None:
    try:
        return Step(json.loads(layout.journal.read_bytes().decode("utf-8")))
    except FileNotFoundError:
        return None


def recover(layout: Layout, meta: Metadata, lang: Lang) -> list[str]:
    """Bring the vault back to a consistent state; returns what the user should be told."""
    notes: list[str] = []
    step = pending(layout)
    if step is not None:
        if step.op == "close":
            _recover_close(layout, meta, step, lang, notes)
        elif step.op == "open":
            _recover_open(layout, meta, step, lang, notes)
        finish(layout)
    _collect_garbage(layout, meta)
    if layout.session.exists() and read_session_owner(layout.session) is None:
        clear_session(layout.session)  # the process that owned the session is gone, and the session with it
    return notes


def _recover_close(layout: Layout, meta: Metadata, step: Step, lang: Lang, notes: list[str]) -> None:
    folder = Folder.from_json(step.doc["folder"])
    generation = str(step.doc["generation"])
    original, quarantine = step.path("path"), step.path("quarantine")
    current = meta.folder(folder.id)
    if current is not None and current.generation == generation:
        remove_tree(quarantine)
        notes.append(FINISHED_CLOSE.render(lang, name=folder.name))
        return
    remove_tree(layout.generation(generation))
    if os.path.lexists(quarantine):
        destination = free_name(original)
        quarantine.rename(destination)
        fsync_dir(destination.parent)
        if destination != original:
            notes.append(MOVED.render(lang, path=original, moved=destination))
            if current is not None:
                current.path = str(destination)
                layout.save(meta)
    notes.append(ROLLED_BACK_CLOSE.render(lang, name=folder.name))


def _recover_open(layout: Layout, meta: Metadata, step: Step, lang: Lang, notes: list[str]) -> None:
    folder_id, generation = str(step.doc["folder"]), str(step.doc["generation"])
    staging, target = step.path("staging"), step.path("target")
    name = str(step.doc.get("name", ""))
    folder = meta.folder(folder_id)
    committed = folder is None or folder.state == "open"
    if not committed and os.path.lexists(staging):
        remove_tree(staging)
        notes.append(ROLLED_BACK_OPEN.render(lang, name=name))
        return
    if not committed and step.doc.get("phase") == "renaming" and os.path.lexists(target):
        assert folder is not None
        size = step.doc.get("size")
        commit_open(
            meta,
            folder,
            target,
            generation=generation,
            damaged=int(step.doc.get("damaged", 0)),  # a bool in journals from before the count
            unregister=bool(step.doc.get("unregister")),
            size=None if size is None else int(size),
        )
        layout.save(meta)
        committed = True
    if committed:
        if generation not in meta.referenced_generations():
            remove_tree(layout.generation(generation))
        notes.append(FINISHED_OPEN.render(lang, name=name))
    else:
        notes.append(ROLLED_BACK_OPEN.render(lang, name=name))


def commit_open(
    meta: Metadata,
    folder: Folder,
    target: Path,
    *,
    generation: str,
    damaged: int,
    unregister: bool,
    size: int | None = None,
) -> None:
    """The metadata change that commits an open (or a remove): shared by the live path and recovery.

    `damaged` files could not be restored: the folder then holds `size` bytes, not what was closed, and
    the status says how many files are missing until the folder leaves the vault."""
    if unregister and not damaged:
        meta.folders.remove(folder)
        return
    folder.state, folder.path, folder.generation = "open", str(target), None
    if size is not None:
        folder.size = size
    if damaged and generation not in folder.kept:
        folder.kept.append(generation)  # keep the damaged ciphertext: it may still be repairable
        folder.damaged += damaged


def _collect_garbage(layout: Layout, meta: Metadata) -> None:
    """Generations nobody references (a crash before a commit) and stray temp files."""
    referenced = meta.referenced_generations()
    if layout.store.is_dir():
        for child in layout.store.iterdir():
            if child.name not in referenced:
                remove_tree(child)
    for tmp in layout.root.glob("*.tmp"):
        remove_file(tmp)
