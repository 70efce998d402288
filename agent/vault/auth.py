"""Authenticated metadata: vault.json cannot be edited to send a folder's plaintext somewhere else.

The MAC key comes from the vault's private key (`keys.metadata_key`), so only a step that was given the
passphrase can make a valid seal. But two steps that change vault.json must work *without* the
passphrase — closing (also when a session starts) and adding a folder — so the file is authenticated in
two layers:

* the **seal**: a snapshot of every folder (id, name, path, state, generation) and the wrapped key, with
  an HMAC-SHA256, written by every passphrase-bearing step (open, remove, passwd) and checked by the
  next one before anything is decrypted;
* the **binding**: every generation's encrypted manifest names the folder it belongs to (id, name, path
  at the time of the close). The manifest is AES-GCM under that generation's key, which only the closer
  and the private key's holder know, so an existing generation cannot be re-pointed at another place.

What a step without the passphrase may have changed since the seal, and is accepted:
  a folder closed (a new generation, whose binding is checked when it is opened);
  a folder added (not in the seal, closed, binding checked at open);
  an interrupted step finished or rolled back by recovery (the folder at its path or at `path (n)`,
  beside it: restoring never overwrites).
  a folder gone from the record (a remove finished by recovery; dropping one leaks nothing).
Everything else — a folder renamed or moved elsewhere, a generation that belongs to another folder or
place, the key or KDF parameters edited, the seal removed — is refused as tampering. An open seals the
record before it starts (when it changed since the last seal), so an open that recovery finishes is
already covered.

The wrap's version (keys.py) records that the vault has a seal, inside the AES-GCM AAD: a file edited to
look like one from before sealing does not unwrap as such. A vault from before sealing is accepted once,
as it is, and sealed at its next passphrase-bearing step (migration); the generations it has then,
written without bindings, are listed in the seal as vouched for.

Limit: between two passphrase-bearing steps nothing can be checked — a close without the passphrase
trusts the file as it finds it (the public key it seals to, the path it closes). Such an edit is detected
at the next passphrase-bearing step, not prevented (and not at all if it points at a `path (n)` sibling,
which recovery legitimately does); keeping engineer commands away from the data directory (the sandbox)
is what prevents it.
"""

from __future__ import annotations

import hmac
import json
import re
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent.i18n import Text
from agent.vault.errors import MetadataTampered
from agent.vault.keys import metadata_key
from agent.vault.metadata import Folder, Metadata, Seal, SealedFolder

NO_SEAL = Text("缺少认证记录", "its authentication was removed")
BAD_MAC = Text("认证码不符", "its authentication code does not match")
RENAMED = Text("“{name}” 的名称被改了", "the name of “{name}” was changed")
MOVED = Text("“{name}” 的位置被改到了别处", "the place of “{name}” was changed")
NOT_CLOSED = Text("新加入的 “{name}” 不是加密状态", "“{name}”, added since, is not encrypted")
UNBOUND = Text(
    "“{name}” 的密文不属于这个文件夹或这个位置",
    "the ciphertext of “{name}” belongs to another folder or place",
)


def _mac_input(meta: Metadata, folders: tuple[SealedFolder, ...], legacy: tuple[str, ...]) -> bytes:
    doc = {"key": meta.key.to_json(), "folders": [f.to_json() for f in folders], "legacy": list(legacy)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _mac(
    meta: Metadata, folders: tuple[SealedFolder, ...], legacy: tuple[str, ...], private: X25519PrivateKey
) -> bytes:
    return hmac.new(metadata_key(private), _mac_input(meta, folders, legacy), sha256).digest()


def seal(meta: Metadata, private: X25519PrivateKey) -> None:
    """Snapshot the folders as they are now and authenticate them with the key (before saving).

    A vault sealed for the first time (the migration) vouches for every generation it has: they were
    written before bindings. Later seals carry that list over, never add to it."""
    folders = tuple(SealedFolder.of(f) for f in meta.folders)
    referenced = meta.referenced_generations()
    if meta.seal is None:
        legacy = tuple(sorted(referenced))
    else:
        legacy = tuple(g for g in meta.seal.legacy if g in referenced)
    meta.seal = Seal(folders, _mac(meta, folders, legacy, private), legacy)


def up_to_date(meta: Metadata) -> bool:
    """The seal already describes the folders as they are (no need to write it again)."""
    return meta.seal is not None and meta.seal.folders == tuple(SealedFolder.of(f) for f in meta.folders)


def is_legacy(meta: Metadata) -> bool:
    """A vault from before sealing (key wrap version 1): accepted as it is, sealed at the next chance."""
    return meta.key.version < 2


def same_place(sealed: str, live: str) -> bool:
    """`live` is `sealed` or `sealed (n)` beside it (where a restore went because `sealed` was taken)."""
    if live == sealed:
        return True
    a, b = Path(sealed), Path(live)
    return a.parent == b.parent and re.fullmatch(re.escape(a.name) + r" \([0-9]+\)", b.name) is not None


def verify(meta: Metadata, private: X25519PrivateKey, where: Path) -> None:
    """Refuse (MetadataTampered) anything no step could have done since the last seal."""
    if is_legacy(meta):
        return
    if meta.seal is None:
        raise MetadataTampered(path=str(where), why=NO_SEAL)
    if not hmac.compare_digest(_mac(meta, meta.seal.folders, meta.seal.legacy, private), meta.seal.mac):
        raise MetadataTampered(path=str(where), why=BAD_MAC)
    sealed_ids = set()
    for old in meta.seal.folders:
        sealed_ids.add(old.id)
        live = meta.folder(old.id)
        if live is None:
            continue  # a remove that recovery finished (or an edit that only loses the folder: no leak)
        if live.name != old.name:
            raise MetadataTampered(path=str(where), why=_named(RENAMED, old.name))
        if not same_place(old.path, live.path):
            raise MetadataTampered(path=str(where), why=_named(MOVED, old.name))
        # A closed folder with another generation than the seal's (an open finished by recovery, then a
        # close) is checked at open: that generation's binding must name this folder at this place.
    for live in meta.folders:
        if live.id not in sealed_ids and live.state != "closed":
            raise MetadataTampered(path=str(where), why=_named(NOT_CLOSED, live.name))


def check_binding(meta: Metadata, folder: Folder, binding: dict[str, Any] | None, where: Path) -> None:
    """Before decrypting `folder`: its generation must say it belongs to this folder at this place."""
    if binding is None:
        # Manifests from before bindings: only generations the migration found are vouched for.
        if is_legacy(meta) or (meta.seal is not None and folder.generation in meta.seal.legacy):
            return
    elif (binding.get("id"), binding.get("name"), binding.get("path")) == (
        folder.id,
        folder.name,
        folder.path,
    ):
        return
    raise MetadataTampered(path=str(where), why=_named(UNBOUND, folder.name))


def binding_of(folder: Folder, path: Path) -> dict[str, str]:
    """What a new generation's manifest records about the folder it belongs to."""
    return {"id": folder.id, "name": folder.name, "path": str(path)}


def _named(text: Text, name: str) -> Text:
    return Text(text.zh.format(name=name), text.en.format(name=name))
