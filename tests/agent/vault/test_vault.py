"""The vault end to end through its API, on real files: round trips, damage, refusals, passphrases."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent.vault import Damaged, FolderRefused, MetadataTampered, UnknownFolder, Vault, WrongPassphrase
from agent.vault.generation import PACK_MEMBER_MAX, read_manifest
from agent.vault.keys import unwrap_private_key
from agent.vault.metadata import Layout
from agent.vault.tree import Entry
from tests.agent.vault.helpers import PASSPHRASE, fast_vault, files_with_marker, make_tree, snapshot


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def blobs(data: Path, folder_name: str) -> list[Path]:
    meta = Layout(data).load()
    assert meta is not None
    folder = meta.by_name(folder_name)
    assert folder is not None and folder.generation
    return sorted(
        p
        for p in (data / "vault" / "store" / folder.generation).iterdir()
        if p.name not in ("key", "manifest")
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_add_hides_and_open_restores_every_byte(tmp_path: Path, home: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not in the vault")
    private = home / "Private"
    make_tree(private, outside=outside)
    private.chmod(0o750)
    before = snapshot(private)
    vault = fast_vault(tmp_path / "data")
    folder = vault.add(private)
    assert folder.name == "Private" and folder.size > 9 * 1024 * 1024
    assert not private.exists() and list(home.iterdir()) == []
    # Names and structure are hidden: the store holds random ids and no plaintext marker.
    assert files_with_marker(tmp_path / "data") == []
    names = {p.name for p in (tmp_path / "data").rglob("*")}
    assert not any("日记" in n or "notes" in n or "docs" in n for n in names)
    # The link pointing out of the folder was stored as a link, never followed or removed.
    assert outside.read_bytes() == b"not in the vault"
    [result] = vault.open(PASSPHRASE)
    assert result.path == private and result.damaged == []
    assert snapshot(private) == before
    assert os.readlink(private / "link-outside") == str(outside)
    assert (private / "docs" / "mode600").stat().st_mode & 0o777 == 0o600
    assert private.stat().st_mode & 0o777 == 0o750
    assert list((tmp_path / "data" / "vault" / "store").iterdir()) == []


def test_many_small_and_empty_files_round_trip(tmp_path: Path, home: Path) -> None:
    private = home / "many"
    for i in range(60):
        sub = private / f"d{i % 7}" / f"e{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.txt").write_bytes(os.urandom(i * 37))
    (private / "only-empty-dirs" / "a" / "b").mkdir(parents=True)
    for odd in ("back\\slash", "co:lon", "new\nline", " lead", "trail ", "-dash", "..dots", "名字 ✓"):
        (private / odd).write_bytes(odd.encode())
    before = snapshot(private)
    vault = fast_vault(tmp_path / "data")
    vault.add(private, name="Many")
    vault.open(PASSPHRASE, "many")  # names are case-insensitive
    assert snapshot(private) == before
    vault.close()
    vault.open(PASSPHRASE)
    assert snapshot(private) == before


def test_empty_folder_round_trip(tmp_path: Path, home: Path) -> None:
    (home / "nothing").mkdir()
    vault = fast_vault(tmp_path / "data")
    assert vault.add(home / "nothing").size == 0
    vault.open(PASSPHRASE)
    assert list((home / "nothing").iterdir()) == []


def test_wrong_passphrase_changes_nothing(tmp_path: Path, home: Path) -> None:
    make_tree(home / "Private")
    vault = fast_vault(tmp_path / "data")
    vault.add(home / "Private")
    data = tmp_path / "data"
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file() and p.name != "lock"}
    with pytest.raises(WrongPassphrase) as caught:
        vault.open("not the passphrase")
    assert "Wrong passphrase" in caught.value.message("en") and "口令不对" in caught.value.message("zh-CN")
    with pytest.raises(WrongPassphrase):
        vault.passwd("not the passphrase", "new passphrase")
    with pytest.raises(WrongPassphrase):
        vault.remove("not the passphrase", "Private")
    after = {p: p.read_bytes() for p in data.rglob("*") if p.is_file() and p.name != "lock"}
    assert after == before and not (home / "Private").exists()


def test_tampered_blob_names_the_item_and_the_rest_opens(tmp_path: Path, home: Path) -> None:
    private = home / "Private"
    private.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (private / name).write_bytes(name.encode() * 1000)
    vault = fast_vault(tmp_path / "data")
    vault.add(private)
    damaged_blob = blobs(tmp_path / "data", "Private")[0]
    raw = bytearray(damaged_blob.read_bytes())
    raw[100] ^= 0x01
    damaged_blob.write_bytes(bytes(raw))
    [result] = vault.open(PASSPHRASE)
    assert len(result.damaged) == 1
    message = result.damaged[0].message("en")
    [lost] = [n for n in ("a.txt", "b.txt", "c.txt") if not (private / n).exists()]
    assert f"Private/{lost}" in message and "damaged" in message
    for name in {"a.txt", "b.txt", "c.txt"} - {lost}:
        assert (private / name).read_bytes() == name.encode() * 1000
    # The damaged ciphertext is kept (maybe repairable), never silently dropped.
    assert damaged_blob.exists()


@pytest.mark.parametrize("cut", ["tail", "final_chunk", "header"])
def test_truncated_blob_is_detected(tmp_path: Path, home: Path, cut: str) -> None:
    private = home / "Private"
    private.mkdir()
    chunk = 4 * 1024 * 1024
    (private / "big").write_bytes(os.urandom(2 * chunk + 10))
    (private / "small").write_bytes(b"fine")
    vault = fast_vault(tmp_path / "data")
    vault.add(private)
    layout_blobs = blobs(tmp_path / "data", "Private")
    big_blob = max(layout_blobs, key=lambda p: p.stat().st_size)
    size = big_blob.stat().st_size
    keep = {"tail": size - 5, "final_chunk": 32 + 2 * (chunk + 16), "header": 20}[cut]
    with big_blob.open("r+b") as handle:
        handle.truncate(keep)
    [result] = vault.open(PASSPHRASE)
    assert [d.fields["item"] for d in result.damaged] == ["Private/big"]
    assert not (private / "big").exists() and (private / "small").read_bytes() == b"fine"


def generation_entries(data: Path, folder_name: str) -> tuple[Path, list[Entry]]:
    """The folder's generation directory and its files as the manifest lists them (passphrase needed)."""
    meta = Layout(data).load()
    assert meta is not None
    folder = meta.by_name(folder_name)
    assert folder is not None and folder.generation
    gen_dir = data / "vault" / "store" / folder.generation
    private = unwrap_private_key(meta.key, PASSPHRASE)
    _key, _root, entries = read_manifest(gen_dir, folder.generation, private)
    return gen_dir, [e for e in entries if e.kind == "file"]


def test_swapped_blobs_and_swapped_pack_members_are_detected(tmp_path: Path, home: Path) -> None:
    private = home / "Private"
    private.mkdir()
    (private / "one").write_bytes(b"1" * 50)  # small: packed together
    (private / "two").write_bytes(b"2" * 50)
    big = PACK_MEMBER_MAX + 1000  # big: a blob each
    (private / "big1").write_bytes(os.urandom(big))
    (private / "big2").write_bytes(os.urandom(big))
    vault = fast_vault(tmp_path / "data")
    vault.add(private)
    gen_dir, files = generation_entries(tmp_path / "data", "Private")
    by_path = {e.path: e for e in files}
    first, second = gen_dir / by_path["big1"].blob, gen_dir / by_path["big2"].blob
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    one, two = by_path["one"], by_path["two"]
    assert one.blob == two.blob and {one.offset, two.offset} == {0, 98}  # 32 + 50 + 16 bytes each
    pack = gen_dir / one.blob
    raw = pack.read_bytes()
    pack.write_bytes(raw[98:] + raw[:98])
    [result] = vault.open(PASSPHRASE)
    damaged = sorted(str(d.fields["item"]) for d in result.damaged)
    assert damaged == ["Private/big1", "Private/big2", "Private/one", "Private/two"]


def test_small_files_share_packs_and_damage_stays_with_one_file(tmp_path: Path, home: Path) -> None:
    """Hundreds of small files become a few packs (the store shows neither their number nor their sizes);
    a damaged or cut pack loses only the files whose own bytes are hit, named one by one."""
    private = home / "Private"
    contents: dict[str, bytes] = {}
    for i in range(600):
        rel = f"d{i % 7}/sub{i % 3}/file{i}.txt"
        contents[rel] = os.urandom((i * 7919) % 40_000)
        (private / rel).parent.mkdir(parents=True, exist_ok=True)
        (private / rel).write_bytes(contents[rel])
    vault = fast_vault(tmp_path / "data")
    vault.add(private)
    gen_dir, files = generation_entries(tmp_path / "data", "Private")
    packs = {e.blob for e in files}
    assert 1 < len(packs) <= 4  # ~12 MB of small files, in packs of about 8 MiB
    assert {p.name for p in gen_dir.iterdir()} == packs | {"key", "manifest"}
    [result] = vault.open(PASSPHRASE)
    assert result.damaged == [] and tree_bytes(private) == contents

    vault.close()
    gen_dir, files = generation_entries(tmp_path / "data", "Private")
    pack_name = max(packs := {e.blob for e in files}, key=lambda name: (gen_dir / name).stat().st_size)
    members = sorted((e for e in files if e.blob == pack_name), key=lambda e: e.offset)
    hit, cut_in = members[len(members) // 3], members[2 * len(members) // 3]
    pack = gen_dir / pack_name
    raw = bytearray(pack.read_bytes())
    raw[hit.offset + 40] ^= 0x01  # inside `hit`'s first chunk
    del raw[cut_in.offset + 10 :]  # `cut_in` and every member after it lose their bytes
    pack.write_bytes(bytes(raw))
    [result] = vault.open(PASSPHRASE)
    lost = {hit.path} | {e.path for e in members if e.offset >= cut_in.offset}
    assert sorted(str(d.fields["item"]) for d in result.damaged) == sorted(f"Private/{p}" for p in lost)
    assert tree_bytes(private) == {rel: data for rel, data in contents.items() if rel not in lost}
    assert pack.exists()  # the damaged ciphertext is kept


def test_damaged_manifest_fails_that_folder_only(tmp_path: Path, home: Path) -> None:
    for name in ("First", "Second"):
        (home / name).mkdir()
        (home / name / "f").write_bytes(name.encode())
    vault = fast_vault(tmp_path / "data")
    vault.add(home / "First")
    vault.add(home / "Second")
    meta = Layout(tmp_path / "data").load()
    assert meta is not None
    first = meta.by_name("First")
    assert first is not None and first.generation
    manifest = tmp_path / "data" / "vault" / "store" / first.generation / "manifest"
    manifest.write_bytes(manifest.read_bytes()[:-1])
    with pytest.raises(Damaged) as caught:
        vault.open(PASSPHRASE, "First")
    assert "First" in caught.value.message("en")
    [result] = vault.open(PASSPHRASE, "Second")
    assert (result.path / "f").read_bytes() == b"Second"


def test_passwd_rewraps_key_and_upgrades_kdf_without_touching_blobs(tmp_path: Path, home: Path) -> None:
    make_tree(home / "Private")
    vault = fast_vault(tmp_path / "data")
    vault.add(home / "Private")
    store = tmp_path / "data" / "vault" / "store"
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in store.rglob("*")}
    vault.passwd(PASSPHRASE, "a brand new passphrase", memory_kib=16 * 1024, iterations=2)
    meta = Layout(tmp_path / "data").load()
    assert meta is not None
    assert (meta.key.kdf.memory_kib, meta.key.kdf.iterations, meta.key.kdf.name) == (16 * 1024, 2, "argon2id")
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in store.rglob("*")} == before
    with pytest.raises(WrongPassphrase):
        vault.open(PASSPHRASE)
    [result] = vault.open("a brand new passphrase")
    assert (result.path / "notes.txt").exists()


def test_replaced_public_key_is_detected_at_unlock(tmp_path: Path) -> None:
    vault = fast_vault(tmp_path / "data")
    meta_path = tmp_path / "data" / "vault" / "vault.json"
    other = fast_vault(tmp_path / "other")
    del other
    mine = meta_path.read_text()
    theirs = (tmp_path / "other" / "vault" / "vault.json").read_text()
    import json

    doc, their_doc = json.loads(mine), json.loads(theirs)
    doc["key"]["public_key"] = their_doc["key"]["public_key"]
    meta_path.write_text(json.dumps(doc))
    with pytest.raises(MetadataTampered) as caught:
        vault.check_passphrase(PASSPHRASE)
    assert "public key" in caught.value.message("en")


def test_remove_restores_plaintext_for_good(tmp_path: Path, home: Path) -> None:
    make_tree(home / "Private")
    before = snapshot(home / "Private")
    vault = fast_vault(tmp_path / "data")
    vault.add(home / "Private")
    result = vault.remove(PASSPHRASE, "Private")
    assert result.path == home / "Private" and snapshot(home / "Private") == before
    assert vault.folders() == [] and list((tmp_path / "data" / "vault" / "store").iterdir()) == []
    with pytest.raises(UnknownFolder):
        vault.open(PASSPHRASE, "Private")


def test_open_never_overwrites_a_folder_created_meanwhile(tmp_path: Path, home: Path) -> None:
    (home / "Private").mkdir()
    (home / "Private" / "old").write_bytes(b"vaulted")
    vault = fast_vault(tmp_path / "data")
    vault.add(home / "Private")
    (home / "Private").mkdir()
    (home / "Private" / "new").write_bytes(b"made while closed")
    [result] = vault.open(PASSPHRASE)
    assert result.path == home / "Private (2)"
    assert (home / "Private (2)" / "old").read_bytes() == b"vaulted"
    assert (home / "Private" / "new").read_bytes() == b"made while closed"


def test_refusals(tmp_path: Path, home: Path) -> None:
    vault = fast_vault(tmp_path / "data")
    (home / "real").mkdir()
    (home / "alias").symlink_to(home / "real")
    with pytest.raises(FolderRefused, match="link"):
        vault.add(home / "alias")
    (home / "file").write_bytes(b"x")
    with pytest.raises(FolderRefused, match="not a folder"):
        vault.add(home / "file")
    with pytest.raises(FolderRefused, match="data folder"):
        vault.add(tmp_path)
    (home / "real" / "inner").mkdir()
    (home / "real" / "inner" / "x").write_bytes(b"x")
    vault.add(home / "real" / "inner")
    with pytest.raises(FolderRefused, match="overlaps"):
        vault.add(home / "real")
    (home / "pipes").mkdir()
    os.mkfifo(home / "pipes" / "fifo")
    (home / "pipes" / "keep").write_bytes(b"k")
    with pytest.raises(FolderRefused, match="pipe"):
        vault.add(home / "pipes")
    # A refused close changes nothing: the folder is back in place, with everything in it.
    assert (home / "pipes" / "keep").read_bytes() == b"k" and (home / "pipes" / "fifo").exists()
    assert [f.name for f in vault.folders()] == ["inner"]
    assert list((tmp_path / "data" / "vault" / "store").iterdir()) != []


def test_operations_need_an_initialized_vault(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "nothing")
    assert vault.status().initialized is False
    from agent.vault import NotInitialized

    with pytest.raises(NotInitialized):
        vault.add(tmp_path)


def test_a_file_written_during_close_aborts_it_and_loses_nothing(tmp_path: Path, home: Path) -> None:
    import subprocess
    import sys

    from agent.vault import FolderBusy

    private = home / "Private"
    private.mkdir()
    (private / "big").write_bytes(os.urandom(20 * 1024 * 1024))  # makes the close take a while
    log = private / "log.txt"
    log.write_bytes(b"")
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\n"
                "f = open(sys.argv[1], 'ab', buffering=0)\n"
                "while True:\n    f.write(b'x'); time.sleep(0.001)\n"
            ),
            str(log),
        ]
    )
    try:
        time.sleep(0.3)
        vault = fast_vault(tmp_path / "data")
        with pytest.raises(FolderBusy) as caught:
            vault.add(private)
        assert "changed while it was being encrypted" in caught.value.message("en")
    finally:
        writer.kill()
        writer.wait()
    assert (private / "big").stat().st_size == 20 * 1024 * 1024 and log.stat().st_size > 0
    assert vault.folders() == [] and list((tmp_path / "data" / "vault" / "store").iterdir()) == []


def test_links_keep_their_own_time(tmp_path: Path, home: Path) -> None:
    private = home / "Private"
    private.mkdir()
    (private / "target").write_bytes(b"t")
    (private / "link").symlink_to("target")
    os.utime(private / "link", ns=(1_000_000_000, 1_234_567_890_000_000_000), follow_symlinks=False)
    vault = fast_vault(tmp_path / "data")
    vault.add(private)
    vault.open(PASSPHRASE)
    assert (private / "link").lstat().st_mtime_ns == 1_234_567_890_000_000_000
    assert (private / "target").stat().st_mtime_ns != 1_234_567_890_000_000_000


def test_remove_of_an_open_folder_checks_the_passphrase(tmp_path: Path, home: Path) -> None:
    (home / "Private").mkdir()
    vault = fast_vault(tmp_path / "data")
    vault.add(home / "Private")
    vault.open(PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        vault.remove("not the passphrase", "Private")
    assert [f.name for f in vault.folders()] == ["Private"]
    vault.remove(PASSPHRASE, "Private")
    assert vault.folders() == [] and (home / "Private").is_dir()


def test_after_a_damaged_open_the_status_shows_what_is_missing(tmp_path: Path, home: Path) -> None:
    private = home / "Private"
    private.mkdir()
    (private / "big").write_bytes(os.urandom(PACK_MEMBER_MAX + 10))
    (private / "small").write_bytes(b"fine")
    vault = fast_vault(tmp_path / "data")
    vault.add(private)
    big_blob = max(blobs(tmp_path / "data", "Private"), key=lambda p: p.stat().st_size)
    raw = bytearray(big_blob.read_bytes())
    raw[300] ^= 1
    big_blob.write_bytes(bytes(raw))
    [result] = vault.open(PASSPHRASE)
    assert len(result.damaged) == 1
    [folder] = vault.status().folders
    assert (folder.state, folder.size, folder.damaged) == ("open", 4, 1)
    vault.close()  # still missing: the damaged ciphertext stays kept until the folder leaves
    assert vault.status().folders[0].damaged == 1


def immutable(path: Path) -> None:
    """`chattr +i`: not even root may change it (how a step is made to fail here, as root)."""
    import shutil
    import subprocess

    from tests.lab.managed import require

    require(None if os.geteuid() == 0 and shutil.which("chattr") else "needs root and chattr")
    subprocess.run(["chattr", "+i", str(path)], check=True)


def mutable(path: Path) -> None:
    import subprocess

    subprocess.run(["chattr", "-i", str(path)], check=True)


def test_failures_name_the_users_folder_and_say_what_was_done(tmp_path: Path, home: Path) -> None:
    from agent.vault.errors import StepFailed

    private = home / "Private"
    private.mkdir()
    (private / "stuck").write_bytes(b"x")
    vault = fast_vault(tmp_path / "data")
    store = tmp_path / "data" / "vault" / "store"
    immutable(store)  # the generation cannot be made: the close is undone at once
    try:
        with pytest.raises(StepFailed) as caught:
            vault.add(private)
    finally:
        mutable(store)
    message = caught.value.message("en")
    assert "Nothing was changed: “Private” is still in its place, unencrypted" in message
    assert "没有做任何改动" in caught.value.message("zh-CN") and "finished or undone" not in message
    assert (private / "stuck").exists() and not vault.step_pending()

    immutable(private / "stuck")  # encrypted, but the plaintext copy cannot be removed
    try:
        with pytest.raises(StepFailed) as caught:
            vault.add(private)
        message = caught.value.message("en")
        assert f"“{private / 'stuck'}”" in message and ".rme-vault-" not in message
        assert "the next vault operation finishes that" in message and vault.step_pending()
    finally:
        mutable(next(home.glob(".rme-vault-closing-*")) / "stuck")
    vault.recover()
    assert list(home.iterdir()) == [] and not vault.step_pending()

    immutable(home)  # nowhere to decrypt to: the open is undone at once
    try:
        with pytest.raises(StepFailed) as caught:
            vault.open(PASSPHRASE)
    finally:
        mutable(home)
    message = caught.value.message("en")
    assert f"“{private}”" in message and ".rme-vault-" not in message
    assert "Nothing was changed: “Private” stays encrypted" in message and not vault.step_pending()
    [result] = vault.open(PASSPHRASE)
    assert (result.path / "stuck").read_bytes() == b"x"
