"""The always-visible sign that an engineer sees the screen: a small always-on-top window,
"engineer 张三 is viewing your screen — Stop", in the user's language (both lines shown).

It runs as its own process (`python -m agent.screen.indicator NAME LANG`; from the single-file binary
`rme-agent _screen-indicator NAME LANG`, `command()`) so that a busy or stuck
agent cannot hide it and Tk owns its own main loop. It speaks line by line:
  stdout: `shown` once the window is mapped on screen; `stop` when the user clicks Stop.
  stdin:  `control on` / `control off` (the text changes); end of input closes it.
The agent captures pixels only between `shown` and the window's end (`Indicator.shown`): if the
process dies or its window is closed, the view stops.

Windows: the same Tk window (Tk ships with Python on Windows; `-topmost` is `HWND_TOPMOST` there);
macOS shows its own recording indicator on top of ours (designed, not built: docs/screen.md).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Callable

TEXTS = {
    "view": ("工程师 {name} 正在查看您的屏幕", "Engineer {name} is viewing your screen"),
    "control": (
        "工程师 {name} 正在查看并控制您的屏幕",
        "Engineer {name} is viewing and controlling your screen",
    ),
    "stop": ("停止", "Stop"),
}


def command(name: str, lang: str) -> list[str]:
    """How to start the indicator: the frozen binary runs itself with a hidden sub-command."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "_screen-indicator", name, lang]
    return [sys.executable, "-m", "agent.screen.indicator", name, lang]


class Indicator:
    """The agent's handle on the indicator process."""

    def __init__(self, name: str, lang: str, on_stop: Callable[[], None]) -> None:
        self.name = name
        self.lang = lang
        self.on_stop = on_stop
        self.proc: subprocess.Popen[str] | None = None
        self._shown = threading.Event()
        self._gone = threading.Event()

    def start(self, timeout: float = 10.0) -> bool:
        """Start the window and wait until it is on screen; False if it could not be shown."""
        flags = 0
        if sys.platform == "win32":
            flags = subprocess.CREATE_NO_WINDOW  # no console window beside the indicator
        self.proc = subprocess.Popen(
            command(self.name[:64], self.lang),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            bufsize=1,
            creationflags=flags,
        )
        threading.Thread(target=self._read, name="indicator", daemon=True).start()
        self._shown.wait(timeout)
        return self.shown()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            word = line.strip()
            if word == "shown":
                self._shown.set()
            elif word == "stop":
                self.on_stop()
        self._gone.set()
        self._shown.set()  # wake a waiting start()
        if self.proc.poll() is None:
            self.proc.wait()

    def shown(self) -> bool:
        """The window is on screen now: started, mapped, and its process alive."""
        return (
            self._shown.is_set()
            and not self._gone.is_set()
            and self.proc is not None
            and self.proc.poll() is None
        )

    def control(self, on: bool) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.write("control on\n" if on else "control off\n")
                self.proc.stdin.flush()

    def close(self) -> None:
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
        self._gone.set()


def _main(name: str, lang: str) -> int:  # pragma: no cover - runs in its own process, tested through it
    import tkinter as tk  # noqa: PLC0415 (only the indicator's own process needs Tk)

    first = 0 if lang == "zh-CN" else 1

    def words(key: str) -> str:
        pair = TEXTS[key]
        return f"{pair[first].format(name=name)}\n{pair[1 - first].format(name=name)}"

    root = tk.Tk()
    root.title("RME")
    root.overrideredirect(True)  # no title bar: it cannot be minimised away
    root.attributes("-topmost", True)
    root.configure(background="#b00020")
    label = tk.Label(root, text=words("view"), fg="white", bg="#b00020", font=("Sans", 11), justify="left")
    label.pack(side="left", padx=8, pady=4)
    stop_text = f"{TEXTS['stop'][first]} / {TEXTS['stop'][1 - first]}"

    def stop() -> None:
        print("stop", flush=True)

    tk.Button(root, text=stop_text, command=stop).pack(side="right", padx=8, pady=4)
    root.update_idletasks()
    width = root.winfo_reqwidth()
    root.geometry(f"+{max(0, (root.winfo_screenwidth() - width) // 2)}+0")

    def announce() -> None:
        if root.winfo_viewable():  # mapped on the screen (and every ancestor): the user can see it
            print("shown", flush=True)
        else:
            root.after(20, announce)

    def keep_on_top() -> None:
        root.lift()
        root.attributes("-topmost", True)
        root.after(1000, keep_on_top)

    def read_stdin() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "control on":
                root.after(0, lambda: label.configure(text=words("control")))
            elif command == "control off":
                root.after(0, lambda: label.configure(text=words("view")))
        root.after(0, root.destroy)  # the agent closed our input: the view is over

    threading.Thread(target=read_stdin, daemon=True).start()
    root.after(0, announce)
    root.after(1000, keep_on_top)
    root.mainloop()
    return 0


def main(argv: list[str]) -> int:  # pragma: no cover - runs in its own process
    return _main(argv[0] if argv else "?", argv[1] if len(argv) > 1 else "en")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
