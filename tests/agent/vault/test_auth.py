"""vault.json is authenticated: an edited record is refused before a byte is decrypted, what steps without
the passphrase legitimately change is accepted, and a vault from before sealing is sealed on next use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.vault import MetadataTampered, Vault
from agent.vault import auth as vault_auth
from agent.vault.keys import KdfParams, new_vault_key, wrap_private_key
from agent.vault.metadata import Layout, Metadata
from tests.agent.vault.helpers import FAST_KDF, PASSPHRASE, fast_vault


def record(data: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((data / "vault" / "vault.json").read_text("utf-8"))
    return doc


def rewrite(data: Path, doc: dict[str, Any]) -> None:
    (data / "vault" / "vault.json").write_text(json.dumps(doc, ensure_ascii=False), "utf-8")


def folder_in(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in doc["folders"] if f["name"] == name)
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for name in ("Private", "Taxes"):
        (home / name).mkdir(parents=True)
        (home / name / f"{name}.txt").write_bytes(f"secret of {name}".encode())
    return home


def test_a_new_vault_is_sealed(tmp_path: Path) -> None:
    fast_vault(tmp_path / "data")
    doc = record(tmp_path / "data")
    assert doc["format"] == 2 and doc["key"]["version"] == 2 and doc["seal"]["mac"]


def test_a_closed_folder_moved_elsewhere_in_the_record_is_not_decrypted(tmp_path: Path, home: Path) -> None:
    data, elsewhere = tmp_path / "data", tmp_path / "shared" / "Private"
    vault = fast_vault(data)
    vault.add(home / "Private")
    doc = record(data)
    folder_in(doc, "Private")["path"] = str(elsewhere)
    rewrite(data, doc)
    with pytest.raises(MetadataTampered) as caught:
        vault.open(PASSPHRASE)
    assert "changed behind the vault's back" in caught.value.message("en")
    assert "被改动过" in caught.value.message("zh-CN")
    assert not elsewhere.parent.exists() and not (home / "Private").exists()  # nothing decrypted anywhere


def test_generations_swapped_between_folders_are_refused(tmp_path: Path, home: Path) -> None:
    data = tmp_path / "data"
    vault = fast_vault(data)
    vault.add(home / "Private")
    vault.add(home / "Taxes")
    doc = record(data)
    a, b = folder_in(doc, "Private"), folder_in(doc, "Taxes")
    a["generation"], b["generation"] = b["generation"], a["generation"]
    rewrite(data, doc)
    with pytest.raises(MetadataTampered) as caught:
        vault.open(PASSPHRASE, "Private")
    assert "belongs to another folder or place" in caught.value.message("en")
    assert not (home / "Private").exists()


def test_an_open_folder_pointed_at_a_decoy_is_caught_at_the_next_open(tmp_path: Path, home: Path) -> None:
    """A close needs no passphrase, so it trusts the record; the next passphrase step sees the edit."""
    data, decoy = tmp_path / "data", tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "junk").write_bytes(b"junk")
    vault = fast_vault(data)
    vault.add(home / "Private")
    vault.open(PASSPHRASE)  # sealed: Private is open at home/Private
    doc = record(data)
    folder_in(doc, "Private")["path"] = str(decoy)
    rewrite(data, doc)
    vault.close()  # closes the decoy; the real folder stayed in plaintext
    with pytest.raises(MetadataTampered) as caught:
        vault.open(PASSPHRASE)
    assert "place of “Private” was changed" in caught.value.message("en")


@pytest.mark.parametrize(
    "edit",
    ["drop_seal", "rename", "seal_too", "downgrade"],
)
def test_other_edits_are_refused(tmp_path: Path, home: Path, edit: str) -> None:
    data = tmp_path / "data"
    vault = fast_vault(data)
    vault.add(home / "Private")
    vault.open(PASSPHRASE)
    vault.close()
    doc = record(data)
    if edit == "drop_seal":
        del doc["seal"]
    elif edit == "rename":
        folder_in(doc, "Private")["name"] = "Holiday"
    elif edit == "seal_too":  # the path edited in the seal as well: only the MAC can tell
        for where in (doc["folders"], doc["seal"]["folders"]):
            where[0]["path"] = str(tmp_path / "elsewhere")
    else:  # back to a pre-seal record: no seal, no wrap version
        del doc["seal"]
        del doc["key"]["version"]
        doc["format"] = 1
    rewrite(data, doc)
    name = "Holiday" if edit == "rename" else "Private"
    with pytest.raises(MetadataTampered):
        vault.open(PASSPHRASE, name)
    assert not (home / "Private").exists()


def test_what_steps_without_the_passphrase_do_is_accepted(tmp_path: Path, home: Path) -> None:
    """Add, close, and a restore put beside a taken place (`P (2)`) leave the seal valid."""
    data = tmp_path / "data"
    vault = fast_vault(data)
    vault.add(home / "Private")
    vault.open(PASSPHRASE)
    vault.add(home / "Taxes")  # not in the seal: its generation's binding vouches for it
    vault.close()
    (home / "Private").mkdir()  # the place is taken: the open goes beside it
    results = vault.open(PASSPHRASE)
    assert sorted(r.path.name for r in results) == ["Private (2)", "Taxes"]
    # As recovery would after an interrupted close, with its place taken: put back at `P (2) (2)`.
    (home / "Private (2)").rename(home / "Private (2) (2)")
    doc = record(data)
    folder_in(doc, "Private")["path"] = str(home / "Private (2) (2)")
    rewrite(data, doc)
    vault.close()
    [result] = vault.open(PASSPHRASE, "Private")
    assert (result.path / "Private.txt").read_bytes() == b"secret of Private"


def test_a_vault_from_before_sealing_is_sealed_at_its_next_passphrase_step(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    layout = Layout(data)
    layout.root.mkdir(parents=True)
    layout.store.mkdir()
    private, _ = new_vault_key(PASSPHRASE, KdfParams.fresh(**FAST_KDF))
    layout.save(Metadata(key=wrap_private_key(private, PASSPHRASE, KdfParams.fresh(**FAST_KDF), version=1)))
    monkeypatch.setattr(vault_auth, "binding_of", lambda folder, path: None)  # old code wrote no binding
    vault = Vault(data)
    vault.add(home / "Private")
    monkeypatch.undo()
    assert "seal" not in record(data) and "version" not in record(data)["key"]
    vault.check_passphrase(PASSPHRASE)  # the migration
    doc = record(data)
    assert doc["key"]["version"] == 2 and doc["seal"]["folders"][0]["name"] == "Private"
    assert doc["seal"]["legacy"] == [doc["folders"][0]["generation"]]
    # The old generation (no binding) is vouched for by the seal; an edit from now on is caught.
    folder_in(doc, "Private")["path"] = str(tmp_path / "elsewhere")
    rewrite(data, doc)
    with pytest.raises(MetadataTampered):
        vault.open(PASSPHRASE)
    folder_in(doc, "Private")["path"] = str(home / "Private")
    rewrite(data, doc)
    [result] = vault.open(PASSPHRASE)
    assert (result.path / "Private.txt").read_bytes() == b"secret of Private"


def test_same_place() -> None:
    assert vault_auth.same_place("/h/P", "/h/P") and vault_auth.same_place("/h/P", "/h/P (12)")
    assert not vault_auth.same_place("/h/P", "/x/P (2)") and not vault_auth.same_place("/h/P", "/h/Q")
    assert not vault_auth.same_place("/h/P", "/h/P (2)x") and not vault_auth.same_place("/h/P", "/h/P/x")
