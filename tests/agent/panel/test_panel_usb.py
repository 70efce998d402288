"""The panel's rescue USB writer in a real headless Chromium against a real agent's panel: only
removable disks are listed, the confirmation names vendor + model, size and path, Cancel writes
nothing, "Erase and write" writes a real loop device byte for byte (read back and verified), and bad
choices get clear errors in both languages.

The disk list: this machine's kernel has no `scsi_debug` (no loadable modules at all), so no block
device here is removable; the writer's lister (its seam) is handed `lsblk`-shaped JSON in which the
test's own loop device is a removable USB stick. The write, fsync, page-cache drop and read-back are
real, on that loop device."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from bench._loopfs import missing
from tests.agent.session.harness import running_agent
from tests.lab.managed import require
from tests.localnet import CHROMIUM, CHROMIUM_ARGS

DISK = 16 << 20


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
def stick(tmp_path: Path) -> Iterator[str]:
    require(missing())
    backing = tmp_path / "stick.img"
    with backing.open("wb") as handle:
        handle.truncate(DISK)
    device = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def lsblk(stick: str) -> dict[str, Any]:
    """An internal disk, a mounted USB stick and the test's loop device as an unmounted one."""
    return {
        "blockdevices": [
            {"name": "sda", "path": "/dev/sda", "size": 512110190592, "type": "disk",
             "model": "Samsung SSD 860", "vendor": "ATA", "rm": False, "tran": "sata", "mountpoints": [None]},
            {"name": "sdc", "path": "/dev/sdc", "size": 31004295168, "type": "disk",
             "model": "DataTraveler 3.0", "vendor": "Kingston", "rm": True, "tran": "usb",
             "mountpoints": [None], "children": [
                 {"name": "sdc1", "path": "/dev/sdc1", "size": 31003246592, "type": "part",
                  "mountpoints": ["/media/zhang/KINGSTON"]}]},
            {"name": stick[5:], "path": stick, "size": DISK, "type": "disk", "model": "Ultra Fit",
             "vendor": "SanDisk", "rm": True, "tran": "usb", "mountpoints": [None]},
        ]
    }  # fmt: skip


def read(device: str, size: int) -> bytes:
    with open(device, "rb") as dev:
        return dev.read(size)


async def status(page: Page) -> str:
    box = page.locator("#usb-status")
    await box.wait_for(state="attached")
    return await box.inner_text()


async def test_write_a_rescue_stick_from_the_panel(tmp_path: Path, browser: Browser, stick: str) -> None:
    images = tmp_path / "Downloads"
    images.mkdir()
    image = os.urandom(6 << 20) + b"rescue image end"
    (images / "rme-rescue-zhang.iso").write_bytes(image)
    too_big = tmp_path / "elsewhere" / "big.iso"
    too_big.parent.mkdir()
    with too_big.open("wb") as handle:
        handle.truncate(DISK + 1)
    async with running_agent(tmp_path) as (_server, runtime, _link):
        runtime.usb_writer.lister = lambda: lsblk(stick)
        runtime.usb_writer.image_dirs = [images]
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(runtime.panel.login_url())
        await page.locator(f"#usb-disks li[data-path='{stick}']").wait_for()
        listed = await page.locator("#usb-disks").inner_text()
        assert "Samsung" not in listed  # not removable: never offered
        assert "Kingston DataTraveler 3.0 (31.0 GB, /dev/sdc) — mounted: eject it first" in listed
        assert await page.locator("#usb-disks input[value='/dev/sdc']").is_disabled()
        assert "rme-rescue-zhang.iso (6.0 MiB)" in await page.locator("#usb-image").inner_text()

        # Nothing chosen: a clear error, nothing written.
        await page.locator("#usb-write").click()
        assert await status(page) == "Choose an image and a USB disk first."

        await page.locator(f"#usb-disks input[value='{stick}']").check()
        await page.locator("#usb-write").click()
        confirm = page.locator("#usb-confirm")
        await confirm.wait_for()
        text = await confirm.inner_text()
        assert (
            f"This writes rme-rescue-zhang.iso to SanDisk Ultra Fit (16.8 MB, {stick}). "
            "Everything on that disk now is erased" in text
        )
        await page.locator("#usb-confirm-cancel").click()
        await confirm.wait_for(state="hidden")
        assert read(stick, DISK) == bytes(DISK)  # cancelled: untouched

        await page.locator("#usb-write").click()
        await page.locator("#usb-confirm-ok").click()
        await page.locator("#usb-status[data-state=done]").wait_for(timeout=60_000)
        assert (await status(page)).startswith(f"Written and verified: {stick} (SHA-256 ")
        assert await page.locator("#usb-progress").get_attribute("data-state") == "done"
        assert await page.locator("#usb-progress").evaluate("(e) => e.value") == 1000
        assert read(stick, len(image)) == image  # byte for byte on the loop device
        assert read(stick, DISK)[len(image) :] == bytes(DISK - len(image))

        # An image larger than the stick, typed as a path: refused by the writer, in the user's language.
        await page.locator("#usb-image").select_option("*")
        await page.locator("#usb-path").fill(str(too_big))
        await page.locator("#usb-write").click()
        await page.locator("#usb-confirm-ok").click()
        await page.locator("#usb-status[data-state=error]").wait_for()
        assert "is too small (16.8 MB); the image needs 16.8 MB" in await status(page)
        await page.locator("#usb-path").fill(str(tmp_path / "nope.iso"))
        await page.locator("#usb-write").click()
        await page.locator("#usb-confirm-ok").click()
        await page.locator("#usb-status", has_text="No such image file").wait_for()
        await page.locator("#lang").click()
        await page.locator("html[lang='zh-CN']").wait_for(state="attached")
        assert (await status(page)).startswith("找不到这个镜像文件")
        assert "制作救援 U 盘" in await page.locator("#usb-box h2").inner_text()
        assert read(stick, len(image)) == image  # the refusals wrote nothing
        assert errors == []


async def test_the_writer_is_behind_the_panels_walls(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (_server, runtime, _link):
        base = f"http://127.0.0.1:{runtime.panel.port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False) as http:
            # No launch secret, no session cookie: neither the list nor a write.
            assert (await http.get("/api/usb")).status_code == 403
            write = {"image": "/etc/passwd", "device": "/dev/sda", "size": 1}
            assert (await http.post("/api/usb/write", json=write)).status_code == 403
            # With the secret (the local control channel): a fixed disk is refused with the writer's words.
            secret = {"Authorization": f"Bearer {runtime.panel.auth.secret}"}
            runtime.usb_writer.lister = lambda: lsblk("/dev/loop99")
            refused = await http.post("/api/usb/write", json=write, headers=secret)
            assert refused.status_code == 422
            assert (
                refused.json()["message"]["en"]
                == "/dev/sda is not a removable disk: refused (USB disks only)."
            )
            bad = await http.post("/api/usb/write", json={"image": 1}, headers=secret)
            assert bad.status_code == 400
