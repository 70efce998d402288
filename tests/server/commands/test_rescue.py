"""`rme-server rescue issue` on a stand-in base image (the real ISO is built and booted in
tests/rescue/test_rescue_boot.py): the slot is filled in place with a blob that verifies with the
server's rescue key and carries a working single-use code; bad input is refused and leaves nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rescue import keys
from rescue.provision import SECTOR, SLOT_SIZE, empty_slot, find_slot, open_slot

BIN = Path(sys.executable).parent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "rme-server"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_issue_writes_a_verifiable_blob_in_place(tmp_path: Path) -> None:
    data = tmp_path / "server"
    assert _cli("migrate", "--data-dir", str(data)).returncode == 0
    customer = _cli("customer", "add", "Zhang San", "--data-dir", str(data)).stdout.strip()
    (data / "tls").mkdir(parents=True)
    (data / "tls" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n")
    base = tmp_path / "base.iso"
    base.write_bytes(b"\1" * SECTOR * 10 + empty_slot() + b"\2" * SECTOR * 3)
    out = tmp_path / "zhang.iso"
    url = "wss://rescue.example.test:8443"
    args = ["rescue", "issue", "--customer", customer, "--base", str(base), "--out", str(out)]
    done = _cli(*args, "--server-url", url, "--ttl", "600", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size == base.stat().st_size
    offset = find_slot(out)
    got = open_slot(out.read_bytes()[offset : offset + SLOT_SIZE], keys.load_or_create(data).public_key())
    assert (got.server, got.customer) == (url, customer)
    assert got.expires_at - got.issued_at == 600 and "stand-in" in got.ca_pem
    assert base.read_bytes()[offset : offset + SLOT_SIZE] == empty_slot()  # the base image is untouched
    codes = _cli("customer", "devices", customer, "--data-dir", str(data))
    assert codes.returncode == 0

    for bad, why in (
        (["--server-url", "https://x:1"], "wss://"),
        (["--server-url", url, "--base", str(tmp_path / "missing.iso")], "no base image"),
    ):
        failed = _cli(*args, *bad, "--data-dir", str(data), "--out", str(tmp_path / "bad.iso"))
        assert failed.returncode == 2 and why in failed.stderr
    slotless = tmp_path / "slotless.iso"
    slotless.write_bytes(b"\0" * SECTOR * 4)
    failed = _cli(
        *args[:-4],
        "--base",
        str(slotless),
        "--out",
        str(tmp_path / "x.iso"),
        "--server-url",
        url,
        "--data-dir",
        str(data),
    )
    assert failed.returncode == 1 and "provisioning slot" in failed.stderr
    assert not (tmp_path / "x.iso").exists() and not (tmp_path / "x.iso.part").exists()


def test_issue_takes_base_and_address_from_the_configuration(tmp_path: Path) -> None:
    data = tmp_path / "server"
    assert _cli("migrate", "--data-dir", str(data)).returncode == 0
    customer = _cli("customer", "add", "Li Si", "--data-dir", str(data)).stdout.strip()
    (data / "tls").mkdir(parents=True)
    (data / "tls" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n")
    base = tmp_path / "base.iso"
    base.write_bytes(b"\1" * SECTOR * 4 + empty_slot())
    out = tmp_path / "li.iso"
    args = ["rescue", "issue", "--customer", customer, "--out", str(out), "--data-dir", str(data)]

    unset = _cli(*args)  # nothing to seal: no address is ever guessed
    assert unset.returncode == 2 and "rescue_server_url" in unset.stderr and not out.exists()
    no_base = _cli(*args, "--server-url", "wss://rescue.example.test:8443")
    assert no_base.returncode == 2 and "rescue_base_iso" in no_base.stderr

    config = tmp_path / "rme.toml"
    config.write_text(f'rescue_base_iso = "{base}"\nrescue_server_url = "wss://isp.example.test:443"\n')
    done = _cli(*args, "--config", str(config))
    assert done.returncode == 0, done.stderr
    offset = find_slot(out)
    got = open_slot(out.read_bytes()[offset : offset + SLOT_SIZE], keys.load_or_create(data).public_key())
    assert (got.server, got.customer) == ("wss://isp.example.test:443", customer)
