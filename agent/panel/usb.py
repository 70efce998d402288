"""The panel's USB writer: `rme-agent rescue write-usb` as a page section (the same discovery, checks
and writer: `agent.rescue.usb` and `agent.rescue.imaging`).

The page lists the rescue images it finds (`*.iso` in the inbox and the Downloads folder; any other
path can be typed) and the removable disks only; the user picks both, reads a confirmation naming the
disk's vendor + model, size and path, and confirms. The write runs in a worker thread; the page polls
its progress (writing, then reading back) and reads the verdict. The confirmation carries the size the
user saw: a different stick plugged in at the same path since is refused ("look again"), not written.

`lister` is the seam a test uses to offer a loop device (lsblk calls it neither removable nor a disk).
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.rescue import imaging, usb
from protocol.texts import Text

T_NO_IMAGE = Text("找不到这个镜像文件：{path}", "No such image file: {path}")
T_NOT_FILE = Text("这不是一个普通文件：{path}", "Not a plain file: {path}")
T_CHANGED = Text(
    "{device} 已经不是你确认的那个 U 盘了（大小不同），请重新选择。",
    "{device} is no longer the USB disk you confirmed (its size differs): look again.",
)
T_BUSY = Text("正在写另一个 U 盘，请等它完成。", "Another USB disk is being written: wait for it to finish.")
T_DENIED = Text(
    "没有写入 {device} 的权限：请以管理员身份运行（sudo rme-agent rescue write-usb）。",
    "No permission to write {device}: run it as administrator (sudo rme-agent rescue write-usb).",
)
T_IN_USE = Text(
    "{device} 正在被使用（已挂载？），请先弹出。", "{device} is in use (mounted?): eject it first."
)
T_FAILED = Text("写入失败：{why}", "The write failed: {why}")
T_STOPPED = Text(
    "已停止：U 盘只写了一部分，不能用来启动。",
    "Stopped: the USB disk is only partly written and will not boot.",
)
T_DONE = usb.T_DONE

Lister = Callable[[], dict[str, Any]]


def both(text: Text, **fields: object) -> dict[str, str]:
    return {"zh-CN": text.render("zh-CN", **fields), "en": text.render("en", **fields)}


class UsbWriter:
    def __init__(self, image_dirs: list[Path], lister: Lister = usb.read_lsblk) -> None:
        self.image_dirs = image_dirs
        self.lister = lister
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.job: dict[str, Any] = {"state": "idle"}

    # -- what the page shows -------------------------------------------------------------------------

    def images(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for folder in self.image_dirs:
            try:
                entries = sorted(folder.glob("*.iso"))
            except OSError:
                continue
            for path in entries:
                if path.is_file() and not path.is_symlink():
                    found.append({"path": str(path), "name": path.name, "size": path.stat().st_size})
        return found

    def status(self) -> dict[str, Any]:
        try:
            disks = [
                {
                    "path": d.path,
                    "model": d.model,
                    "size": d.size,
                    "size_text": usb.human_size(d.size),
                    "mounts": list(d.mounts),
                }
                for d in usb.removable_disks(self.lister())
            ]
            error = None
        except (OSError, ValueError) as exc:
            disks, error = [], both(T_FAILED, why=str(exc)[:200])
        with self._lock:
            job = dict(self.job)
        return {"disks": disks, "images": self.images(), "job": job, "error": error}

    # -- the buttons ---------------------------------------------------------------------------------

    def start(self, image: object, device: object, size: object) -> dict[str, Any]:
        """Check everything, then write in the background; {"ok": true} or {"ok": false, "message"}."""
        if not isinstance(image, str) or not isinstance(device, str) or not isinstance(size, int):
            return {"ok": False, "error": "bad_request", "message": both(T_FAILED, why="bad request")}
        path = Path(image).expanduser()
        if not path.exists():
            return {"ok": False, "error": "no_image", "message": both(T_NO_IMAGE, path=image)}
        if not path.is_file():
            return {"ok": False, "error": "no_image", "message": both(T_NOT_FILE, path=image)}
        try:
            disk = usb.choose(self.lister(), device, path.stat().st_size)
        except usb.UsbError as exc:
            return {"ok": False, "error": "refused", "message": both(exc.text, **exc.fields)}
        except (OSError, ValueError) as exc:
            return {"ok": False, "error": "failed", "message": both(T_FAILED, why=str(exc)[:200])}
        if disk.size != size:
            return {"ok": False, "error": "changed", "message": both(T_CHANGED, device=disk.path)}
        with self._lock:
            if self.job.get("state") in ("writing", "verifying"):
                return {"ok": False, "error": "busy", "message": both(T_BUSY)}
            total = path.stat().st_size
            self.job = {
                "state": "writing",
                "device": disk.path,
                "image": path.name,
                "done": 0,
                "total": total,
            }
            self._cancel = threading.Event()
            self._thread = threading.Thread(target=self._write, args=(path, disk, self._cancel), daemon=True)
            self._thread.start()
        return {"ok": True}

    def cancel(self) -> bool:
        with self._lock:
            if self.job.get("state") not in ("writing", "verifying"):
                return False
        self._cancel.set()
        return True

    def wait(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- the worker ----------------------------------------------------------------------------------

    def _write(self, path: Path, disk: usb.UsbDisk, cancel: threading.Event) -> None:
        total = path.stat().st_size
        phase = ["writing"]

        def progress(done: int, _total: int) -> None:
            with self._lock:
                self.job.update(state=phase[0], done=done, total=total)

        def on_verify() -> None:
            phase[0] = "verifying"
            progress(0, total)

        result: dict[str, Any]
        try:
            digest = imaging.write_and_verify(
                path, disk.path, total, progress=progress, cancel=cancel, on_verify=on_verify
            )
            result = {
                "state": "done",
                "sha256": digest,
                "message": both(T_DONE, device=disk.path, digest=digest[:16]),
            }
        except imaging.Mismatch:
            result = {"state": "failed", "message": both(usb.T_MISMATCH)}
        except imaging.Cancelled:
            result = {"state": "failed", "message": both(T_STOPPED)}
        except PermissionError:
            result = {"state": "failed", "message": both(T_DENIED, device=disk.path)}
        except OSError as exc:
            why = T_IN_USE if exc.errno == errno.EBUSY else T_FAILED
            result = {"state": "failed", "message": both(why, device=disk.path, why=str(exc)[:200])}
        with self._lock:
            self.job.update(result)
