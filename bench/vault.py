"""Vault encrypt (add/close) and decrypt (open) throughput on a mixed tree, against `cp -a` of it.

Target (BRIEF §7): encrypt ≥ 300 MB/s and within 2× of `cp -a` of the same tree on the same disk, in the
same run. The vault's figures include what `cp` does not do: fsync of every blob and directory,
reading everything back to verify it, and deleting the plaintext. `cp -a` + `sync` is printed as well.
Set RME_BENCH_DIR to put the tree elsewhere (default: the system temp dir), RME_BENCH_MB to resize it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from agent.vault import Vault
from agent.vault.keys import KdfParams

PASSPHRASE = "benchmark passphrase"
TARGET_MB_S = 300.0


def build_tree(root: Path, total_mb: int) -> int:
    """Big files (half), medium ones (a third) and many small ones in nested folders."""
    rng_block = os.urandom(1024 * 1024)
    written = 0

    def write(path: Path, size: int) -> None:
        nonlocal written
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            left = size
            while left:
                n = min(left, len(rng_block))
                handle.write(rng_block[:n])
                left -= n
        written += size

    mib = 1024 * 1024
    for i in range(2):
        write(root / "videos" / f"film{i}.mp4", total_mb * mib // 4)
    for i in range(8):
        write(root / "photos" / f"album{i % 3}" / f"raw{i}.dng", total_mb * mib // 3 // 8)
    small_total = total_mb * mib - written
    count = 0
    while small_total > 0:
        size = min(small_total, 4096 + (count * 7919) % 60_000)
        write(root / "docs" / f"year{count % 10}" / f"m{count % 12}" / f"note{count}.txt", size)
        small_total -= size
        count += 1
    return written


def timed(label: str, seconds: float, size: int) -> float:
    rate = size / seconds / 1e6
    print(f"  {label:<34} {seconds:7.2f} s  {rate:8.0f} MB/s")
    return rate


def main() -> None:
    total_mb = int(os.environ.get("RME_BENCH_MB", "384"))
    base = Path(tempfile.mkdtemp(prefix="rme-vault-bench-", dir=os.environ.get("RME_BENCH_DIR")))
    try:
        src = base / "home" / "Private"
        size = build_tree(src, total_mb)
        files = sum(1 for p in src.rglob("*") if p.is_file())
        subprocess.run(["sync"], check=True)
        print(f"vault bench: {size / 1e6:.0f} MB in {files} files under {base}")

        start = time.perf_counter()
        subprocess.run(["cp", "-a", str(src), str(base / "copy")], check=True)
        cp_s = time.perf_counter() - start
        subprocess.run(["sync"], check=True)
        cp_sync_s = time.perf_counter() - start
        shutil.rmtree(base / "copy")
        subprocess.run(["sync"], check=True)

        kdf = KdfParams.fresh()
        start = time.perf_counter()
        kdf.derive(PASSPHRASE)
        kdf_s = time.perf_counter() - start

        vault = Vault(base / "data")
        vault.init(PASSPHRASE)
        start = time.perf_counter()
        vault.add(src)
        enc_s = time.perf_counter() - start
        start = time.perf_counter()
        vault.open(PASSPHRASE)
        dec_s = time.perf_counter() - start - kdf_s  # the KDF runs once per open, reported on its own

        print(f"  {'argon2id unlock (64 MiB, t=3, p=4)':<34} {kdf_s:7.2f} s")
        cp_rate = timed("cp -a (anchor)", cp_s, size)
        timed("cp -a + sync", cp_sync_s, size)
        enc_rate = timed("vault encrypt (add: fsync+verify)", enc_s, size)
        dec_rate = timed("vault decrypt (open: fsync)", dec_s, size)
        for name, rate in (("encrypt", enc_rate), ("decrypt", dec_rate)):
            ok = rate >= TARGET_MB_S and rate * 2 >= cp_rate
            print(
                f"  {name}: {rate:.0f} MB/s vs target {TARGET_MB_S:.0f} MB/s and ≥ cp/2 "
                f"({cp_rate / 2:.0f} MB/s): {'OK' if ok else 'MISSED'}"
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
