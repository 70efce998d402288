"""`rescue_write_image` on a real loop device the test makes: the refusals (outside the rescue system,
path tricks, unknown disk, a partition, the system's own disk, a mounted disk, an image too big, an
unreadable compression), the typed second confirmation (right name → written byte for byte and read
back; wrong or empty name → cancelled, disk unchanged), raw / .gz / .xz images, and the kill switch.

A loop device is not what `lsblk` calls a disk, so the executor's lister (its seam) is handed the disk
the test built; every other check — mounts, sizes, O_EXCL, the write, the read-back — is real."""

from __future__ import annotations

import asyncio
import errno
import gzip
import hashlib
import lzma
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.executors.base import ActionFailed, Job
from agent.executors.rescue_write import NOT_RESCUE, REFUSALS, WriteImageExecutor
from agent.rescue import disks, imaging
from bench._loopfs import missing
from protocol.actions import RescueWriteImageOutcome, RescueWriteImageParams
from tests.agent.executors.conftest import Recorder
from tests.lab.managed import require
from tests.rescue.disks import loop_system_disk

DISK_MB = 24


@pytest.fixture
def loop_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A loop device (24 MiB unless the test asks for more) holding an ext4 file system with an
    /etc/os-release: the "installed system" the question names."""
    require(missing())
    size = getattr(request, "param", DISK_MB) << 20
    with loop_system_disk(tmp_path / "disk.img", size, "Debian GNU/Linux 12 (bookworm)") as device:
        yield device


def disk_of(device: str) -> disks.Disk:
    """The loop device as `lsblk` would describe a disk with a file system on the whole of it."""
    size = imaging.device_size(device)
    return disks.Disk(
        device=device,
        size=size,
        model="Test Disk",
        removable=False,
        partitions=[disks.Partition(device, size, "ext4", "OLDSYS")],
    )


def executor(
    tmp_path: Path, device: str, mounts: Path = Path("/proc/mounts"), confirm_timeout: float = 20
) -> WriteImageExecutor:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    return WriteImageExecutor(
        True, inbox=inbox, lister=lambda: [disk_of(device)], mounts=mounts, confirm_timeout=confirm_timeout
    )


def push(tmp_path: Path, name: str, data: bytes) -> RescueWriteImageParams:
    """What the one-way push leaves in the inbox, and the request that names it."""
    path = tmp_path / "inbox" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return RescueWriteImageParams(image=name, sha256=hashlib.sha256(data).hexdigest(), disk="/dev/loop9")


def for_disk(params: RescueWriteImageParams, device: str) -> RescueWriteImageParams:
    return params.model_copy(update={"disk": device})


def read_disk(device: str, size: int | None = None) -> bytes:
    with open(device, "rb") as dev:
        return dev.read(size if size is not None else DISK_MB << 20)


async def run_typed(
    ex: WriteImageExecutor, params: RescueWriteImageParams, typed: str | None
) -> tuple[object, Recorder]:
    """Run the action; when the question appears, answer it with `typed` (None: never answer)."""
    recorder = Recorder(live_ids={"a1"})
    job = Job("a1", "s1", params, recorder)
    task = asyncio.ensure_future(ex.run(job))
    for _ in range(400):
        if ex.questions.pending() or task.done():
            break
        await asyncio.sleep(0.025)
    if typed is not None and ex.questions.pending():
        question = ex.questions.pending()[0]
        text = "\n".join(question.lines("en"))
        assert "Test Disk" in text and "25.2 MB" in text and "OLDSYS" in text
        assert "Debian GNU/Linux 12 (bookworm)" in text  # what is on it now, from the inventory code
        assert ex.questions.answer("a1", typed)
    try:
        return await task, recorder
    except (ActionFailed, OSError) as exc:
        return exc, recorder


async def test_right_name_writes_and_verifies_byte_for_byte(tmp_path: Path, loop_disk: str) -> None:
    data = os.urandom(9 << 20) + b"end of image"
    ex = executor(tmp_path, loop_disk)
    params = for_disk(push(tmp_path, "debian.img", data), loop_disk)
    assert ex.refusal(params) is None
    done, recorder = await run_typed(ex, params, " " + loop_disk.rsplit("/", 1)[-1] + " ")
    outcome = done.outcome  # type: ignore[attr-defined]
    assert isinstance(outcome, RescueWriteImageOutcome) and done.error is None  # type: ignore[attr-defined]
    assert (outcome.confirmed, outcome.verified, outcome.written, outcome.image_bytes) == (
        True, True, len(data), len(data),
    )  # fmt: skip
    assert read_disk(loop_disk, len(data)) == data
    notes = {p["note"] for p in recorder.progress_seen}
    assert {"writing", "verifying"} <= notes and recorder.progress_seen[-1]["done"] == len(data)
    feed = [(kind, template.en) for kind, template, _d, _f in recorder.shown]
    assert ("info", "Writing {disk}: {percent}%") in feed
    assert feed[-1][0] == "result" and "read-back matches" in feed[-1][1]


@pytest.mark.parametrize("typed", ["", "sdaa", "loop", "yes", "Y", None])
async def test_anything_but_the_name_cancels_and_changes_nothing(
    tmp_path: Path, loop_disk: str, typed: str | None
) -> None:
    before = read_disk(loop_disk)
    ex = executor(tmp_path, loop_disk, confirm_timeout=0.5 if typed is None else 20)
    params = for_disk(push(tmp_path, "debian.img", os.urandom(1 << 20)), loop_disk)
    done, recorder = await run_typed(ex, params, typed)
    outcome = done.outcome  # type: ignore[attr-defined]
    assert isinstance(outcome, RescueWriteImageOutcome)
    assert not outcome.confirmed and outcome.written == 0 and not outcome.verified
    assert "nothing was written" in done.error  # type: ignore[attr-defined]
    assert recorder.shown[-1][1].en.startswith("The disk's name was not typed")
    assert read_disk(loop_disk) == before
    assert ex.questions.pending() == []


@pytest.mark.parametrize("suffix", [".gz", ".xz"])
async def test_compressed_images(tmp_path: Path, loop_disk: str, suffix: str) -> None:
    data = os.urandom(1 << 20) + bytes(8 << 20)  # compresses well: 9 MiB → ~1 MiB
    packed = gzip.compress(data, 1) if suffix == ".gz" else lzma.compress(data, preset=0)
    ex = executor(tmp_path, loop_disk)
    params = for_disk(push(tmp_path, "win" + suffix, packed), loop_disk)
    done, _ = await run_typed(ex, params, loop_disk.rsplit("/", 1)[-1])
    outcome = done.outcome  # type: ignore[attr-defined]
    assert outcome.verified and outcome.image_bytes == len(data)
    assert read_disk(loop_disk, len(data)) == data


async def test_refusals(tmp_path: Path, loop_disk: str) -> None:
    ex = executor(tmp_path, loop_disk)
    ok = for_disk(push(tmp_path, "debian.img", b"x" * 4096), loop_disk)
    assert WriteImageExecutor(False, inbox=tmp_path / "inbox").refusal(ok) is NOT_RESCUE
    secret = tmp_path / "secret.img"
    secret.write_bytes(b"not in the inbox")
    (tmp_path / "inbox" / "link.img").symlink_to(secret)
    (tmp_path / "inbox" / "folder.img").mkdir()
    (tmp_path / "inbox" / ".rme-partial-x").write_bytes(b"half")
    for name, code in [
        ("../secret.img", "image.name"),
        (str(secret), "image.name"),
        ("..", "image.name"),
        (".rme-partial-x", "image.name"),
        ("link.img", "image.not_file"),
        ("folder.img", "image.not_file"),
        ("missing.img", "image.missing"),
    ]:
        assert ex.refusal(ok.model_copy(update={"image": name})) is REFUSALS[code], name
    (tmp_path / "inbox" / "new.img.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    assert ex.refusal(ok.model_copy(update={"image": "new.img.zst"})) is REFUSALS["image.format"]
    assert ex.refusal(ok.model_copy(update={"disk": "/dev/sdz"})) is REFUSALS["disk.unknown"]
    part = WriteImageExecutor(
        True,
        inbox=tmp_path / "inbox",
        lister=lambda: [
            disks.Disk(
                "/dev/sdz", 1 << 30, None, False, partitions=[disks.Partition("/dev/sdz1", 1, None, None)]
            )
        ],
    )
    assert part.refusal(ok.model_copy(update={"disk": "/dev/sdz1"})) is REFUSALS["disk.partition"]
    big = for_disk(push(tmp_path, "big.img", b""), loop_disk)
    with (tmp_path / "inbox" / "big.img").open("wb") as handle:
        handle.truncate((DISK_MB << 20) + 1)
    assert ex.refusal(big) is REFUSALS["disk.too_small"]

    # The disk the rescue system runs from (its boot medium), and a disk with a mounted partition.
    mounts = tmp_path / "mounts"
    mounts.write_text(f"{loop_disk} /run/live/medium iso9660 ro 0 0\n")
    assert executor(tmp_path, loop_disk, mounts=mounts).refusal(ok) is REFUSALS["disk.system"]
    mounts.write_text(f"{loop_disk} /media/x\\040y ext4 rw 0 0\n")
    assert executor(tmp_path, loop_disk, mounts=mounts).refusal(ok) is REFUSALS["disk.mounted"]
    point = tmp_path / "mnt"
    point.mkdir()
    before = read_disk(loop_disk)
    await asyncio.to_thread(subprocess.run, ["mount", "-o", "ro", loop_disk, str(point)], check=True)
    try:
        assert ex.refusal(ok) is REFUSALS["disk.mounted"]  # the real /proc/mounts
        # Were the checks fooled (a mounts file that hides it), the kernel still refuses to open a disk
        # in use exclusively: the write fails with EBUSY and writes nothing.
        (tmp_path / "empty").write_text("")
        blind = executor(tmp_path, loop_disk, mounts=tmp_path / "empty")
        failed, _ = await run_typed(blind, ok, loop_disk.rsplit("/", 1)[-1])
        assert isinstance(failed, OSError) and failed.errno == errno.EBUSY
    finally:
        await asyncio.to_thread(subprocess.run, ["umount", str(point)], check=True)
    assert read_disk(loop_disk) == before


async def test_a_file_changed_after_the_push_is_not_written(tmp_path: Path, loop_disk: str) -> None:
    before = read_disk(loop_disk)
    ex = executor(tmp_path, loop_disk)
    params = for_disk(push(tmp_path, "debian.img", b"a" * 8192), loop_disk)
    (tmp_path / "inbox" / "debian.img").write_bytes(b"b" * 8192)
    failed, _ = await run_typed(ex, params, loop_disk.rsplit("/", 1)[-1])
    assert isinstance(failed, ActionFailed) and "SHA-256 differs" in str(failed)
    assert ex.questions.pending() == [] and read_disk(loop_disk) == before


@pytest.mark.parametrize("loop_disk", [96], indirect=True)
async def test_the_kill_switch_stops_the_write(tmp_path: Path, loop_disk: str) -> None:
    data = os.urandom(80 << 20)
    ex = executor(tmp_path, loop_disk)
    params = for_disk(push(tmp_path, "debian.img", data), loop_disk)
    recorder = Recorder(live_ids={"a1"})
    job = Job("a1", "s1", params, recorder)
    task = asyncio.ensure_future(ex.run(job))
    while not ex.questions.pending():
        assert not task.done(), task.result()
        await asyncio.sleep(0.01)
    ex.questions.answer("a1", loop_disk.rsplit("/", 1)[-1])
    while not any(p["note"] == "writing" for p in recorder.progress_seen):
        assert not task.done(), task.result()
        await asyncio.sleep(0.001)
    ex.stop(job)
    with pytest.raises(ActionFailed, match="stopped"):
        await task
    written = read_disk(loop_disk, len(data))
    assert written[: 4 << 20] == data[: 4 << 20]  # the first block went on
    assert written != data  # stopped before the end: part image, part old contents
    assert recorder.shown[-1][1].en.startswith("The write was stopped")


async def test_the_kill_switch_during_the_question_writes_nothing(tmp_path: Path, loop_disk: str) -> None:
    before = read_disk(loop_disk)
    ex = executor(tmp_path, loop_disk)
    params = for_disk(push(tmp_path, "debian.img", os.urandom(1 << 20)), loop_disk)
    job = Job("a1", "s1", params, Recorder(live_ids={"a1"}))
    task = asyncio.ensure_future(ex.run(job))
    while not ex.questions.pending():
        assert not task.done(), task.result()
        await asyncio.sleep(0.01)
    ex.stop(job)
    done = await task
    assert not done.outcome.confirmed  # type: ignore[union-attr]
    assert read_disk(loop_disk) == before
