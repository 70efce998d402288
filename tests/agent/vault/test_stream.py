"""The chunked AES-GCM blob format: sizes around chunk boundaries, and every kind of damage."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.vault import stream
from agent.vault.errors import CorruptBlob
from tests.agent.vault.helpers import PASSPHRASE, ROOT, fast_vault

CHUNK = 4096
GEN = bytes(range(16))
KEY = bytes(32)


def encrypt(tmp_path: Path, data: bytes, blob: int = 1) -> Path:
    src, dst = tmp_path / "plain", tmp_path / f"blob{blob}"
    src.write_bytes(data)
    with src.open("rb") as s, dst.open("wb") as d:
        result = stream.encrypt_stream(
            s.fileno(), d.fileno(), key=KEY, generation=GEN, blob=blob, buffers=stream.Buffers(CHUNK)
        )
    assert result.size == len(data)
    return dst


def decrypt(
    path: Path, blob: int = 1, generation: bytes = GEN, offset: int = 0, size: int | None = None
) -> bytes:
    """The blob at `offset` (in a pack: read by its `size`; else to the end of the file)."""
    out: list[bytes] = []
    with path.open("rb") as s:
        s.seek(offset)
        stream.decrypt_stream(
            s.fileno(),
            lambda c: out.append(bytes(c)),
            key=KEY,
            generation=generation,
            blob=blob,
            buffers=stream.Buffers(CHUNK),
            size=size,
        )
    return b"".join(out)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_round_trip_around_chunk_boundaries(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    blob = encrypt(tmp_path, data)
    # Header, then full chunks, then always one final chunk shorter than a full one (maybe empty).
    assert blob.stat().st_size == 32 + (size // CHUNK) * (CHUNK + 16) + (size % CHUNK) + 16
    assert decrypt(blob) == data


def test_every_flipped_byte_is_detected(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK + 100)
    blob = encrypt(tmp_path, data)
    raw = blob.read_bytes()
    for position in range(0, len(raw), 97):
        damaged = bytearray(raw)
        damaged[position] ^= 0x80
        blob.write_bytes(bytes(damaged))
        with pytest.raises(CorruptBlob):
            decrypt(blob)


@pytest.mark.parametrize("keep", [0, 10, 32, 32 + CHUNK + 16, 32 + 2 * (CHUNK + 16), -1])
def test_truncation_is_detected_even_on_a_chunk_boundary(tmp_path: Path, keep: int) -> None:
    blob = encrypt(tmp_path, os.urandom(2 * CHUNK + 100))
    raw = blob.read_bytes()
    blob.write_bytes(raw[:keep])
    with pytest.raises(CorruptBlob):
        decrypt(blob)


def test_reordered_chunks_appended_data_and_foreign_blobs_are_detected(tmp_path: Path) -> None:
    blob = encrypt(tmp_path, os.urandom(3 * CHUNK))
    raw = blob.read_bytes()
    head, size = raw[:32], CHUNK + 16
    chunks = [raw[32 + i * size : 32 + (i + 1) * size] for i in range(3)] + [raw[32 + 3 * size :]]
    blob.write_bytes(head + chunks[1] + chunks[0] + chunks[2] + chunks[3])
    with pytest.raises(CorruptBlob):
        decrypt(blob)
    blob.write_bytes(raw + b"extra")
    with pytest.raises(CorruptBlob):
        decrypt(blob)
    blob.write_bytes(raw)
    with pytest.raises(CorruptBlob):
        decrypt(blob, blob=2)  # the same bytes filed under another entry
    with pytest.raises(CorruptBlob):
        decrypt(blob, generation=bytes(16))  # or another generation


def test_blobs_back_to_back_are_read_by_their_plaintext_size(tmp_path: Path) -> None:
    """A pack: blobs written one after the other into one file, each read from its offset by its size."""
    sizes = [0, 1, CHUNK, 2 * CHUNK + 5, 17]
    datas = [os.urandom(n) for n in sizes]
    pack, offsets = tmp_path / "pack", []
    with pack.open("wb") as d:
        for number, data in enumerate(datas, start=1):
            (tmp_path / "plain").write_bytes(data)
            with (tmp_path / "plain").open("rb") as s:
                offsets.append(d.tell())
                buffers = stream.Buffers(CHUNK)
                result = stream.encrypt_stream(
                    s.fileno(), d.fileno(), key=KEY, generation=GEN, blob=number, buffers=buffers
                )
            assert result.written == stream.ciphertext_size(len(data), CHUNK) == d.tell() - offsets[-1]

    def read(number: int, size: int, path: Path = pack) -> bytes:
        return decrypt(path, blob=number, offset=offsets[number - 1], size=size)

    for number, data in reversed(list(enumerate(datas, start=1))):  # any order: each stands alone
        assert read(number, len(data)) == data
    for wrong in (len(datas[3]) - 1, len(datas[3]) + 1, len(datas[3]) + CHUNK):
        with pytest.raises(CorruptBlob):  # a size that is not the blob's never reads as a whole blob
            read(4, wrong)
    with pytest.raises(CorruptBlob):  # without a size, the next blob's bytes are trailing garbage
        decrypt(pack, blob=4, offset=offsets[3])
    cut = tmp_path / "cut"
    cut.write_bytes(pack.read_bytes()[: offsets[4] + 40])  # the last blob loses its tail
    assert read(4, len(datas[3]), cut) == datas[3]
    with pytest.raises(CorruptBlob, match="truncated"):
        read(5, len(datas[4]), cut)


def test_bytes_helpers_round_trip(tmp_path: Path) -> None:
    for size in (0, 10, stream.DEFAULT_CHUNK + 5):
        data = os.urandom(size)
        path = tmp_path / f"sealed-{size}"
        path.write_bytes(stream.encrypt_bytes(data, KEY, GEN, 0))
        assert stream.decrypt_path(str(path), KEY, GEN, 0) == data


GIB = 1024 * 1024 * 1024


def _run_measured(args: list[str]) -> int:
    """Run the real CLI; returns its peak resident memory in bytes.

    Read from the child's own /proc/PID/status VmHWM while it runs: the rusage of a child forked from
    this (large) pytest process would report the parent's size instead.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "vault", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
            peak = max(peak, int(line.split()[1]) * 1024)
        except (OSError, StopIteration):
            pass
        time.sleep(0.02)
    assert proc.stderr is not None
    assert proc.returncode == 0, proc.stderr.read()
    assert peak > 0
    return peak


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_one_gib_streams_through_bounded_memory(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "Big"
    folder.mkdir(parents=True)
    digest = hashlib.sha256()
    block = bytearray(os.urandom(1024 * 1024))
    with (folder / "disk.img").open("wb") as handle:
        for i in range(GIB // len(block)):
            block[:8] = i.to_bytes(8, "big")  # every MiB differs, so a misplaced chunk would show
            digest.update(block)
            handle.write(block)
    fast_vault(tmp_path / "data")
    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE, encoding="utf-8")
    common = ["--data-dir", str(tmp_path / "data"), "--passphrase-file", str(passfile)]
    peak_close = _run_measured(["add", str(folder), *common])
    assert not folder.exists()
    peak_open = _run_measured(["open", *common])
    check = hashlib.sha256()
    with (folder / "disk.img").open("rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            check.update(chunk)
    assert check.digest() == digest.digest()
    # Interpreter + cryptography ≈ 40 MB; the file is 1 GiB: memory must not grow with it.
    print(f"peak RSS: close {peak_close / 2**20:.0f} MiB, open {peak_open / 2**20:.0f} MiB")
    assert peak_close < 120 * 1024 * 1024, peak_close
    assert peak_open < 120 * 1024 * 1024, peak_open
