"""The screen executors: "view my screen" (`screen_view`) and "control my mouse and keyboard"
(`screen_control`). Both stay on until stopped — by the user (panel, on-screen indicator), by the
engineer (`action.stop`) or by the end — so `run` returns only when the view ends on its own (the
indicator was closed, capture failed); the book sends the result of every other stop.

The view's promise: pixels are captured only while the indicator is on screen (`Indicator.shown`,
asked before every grab) and leave only while the book says the view runs (`Reporter.send_frame`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.executors.base import ActionFailed, BaseExecutor, Done, Job, LangSource, Stopped
from agent.executors.described import Described
from agent.i18n import Lang, Text
from protocol.actions import ScreenControlParams, ScreenOutcome, ScreenViewParams
from protocol.screen import InputEvent, ScreenFrame

T_VIEW = Text("查看您的屏幕", "View your screen")
T_VIEW_WHAT = Text(
    "工程师将看到您的屏幕（第 {monitor} 个显示器），直到您点“停止”。屏幕上方会一直显示红色提示条。"
    "工程师看不到您的文件，只能看到屏幕上显示的内容。",
    "The engineer sees your screen (monitor {monitor}) until you click Stop. A red bar stays at the top "
    "of your screen the whole time. The engineer cannot get your files, only what the screen shows.",
)
T_VIEW_RISK = Text(
    "中等：屏幕上显示的一切（打开的文档、消息）工程师都能看到，请先关闭不想让人看到的窗口",
    "Medium: everything on the screen (open documents, messages) is visible; close what you do not want seen",
)
T_CONTROL = Text("控制您的鼠标和键盘", "Control your mouse and keyboard")
T_CONTROL_WHAT = Text(
    "工程师可以在您的屏幕上移动鼠标、点击和打字，直到您点“停止”。您一动鼠标或键盘，工程师的控制就会暂停。",
    "The engineer can move the mouse, click and type on your screen until you click Stop. When you "
    "move your mouse or type, the engineer's control pauses.",
)
T_CONTROL_RISK = Text(
    "高：工程师能做您在电脑上能做的一切操作；请一直看着屏幕",
    "High: the engineer can do anything you could; keep watching",
)
T_UNDO = Text("随时点“停止”或“结束会话”", "Click Stop or End session at any time")
T_NO_SCREEN = Text(
    "已自动拒绝：“{title}” — 这个版本的助手不能共享屏幕",
    "Refused automatically: “{title}” — this build of the agent cannot share the screen",
)
T_NO_INDICATOR = Text(
    "无法在屏幕上显示提示条，因此不共享屏幕",
    "The on-screen notice could not be shown, so the screen is not shared",
)


def _call_soon(loop: asyncio.AbstractEventLoop, func: Any, *args: Any) -> None:
    """Run `func(*args)` on the event loop's thread (the indicator's Stop comes from its reader thread)."""
    loop.call_soon_threadsafe(func, *args)


def missing_parts(*modules: str) -> str | None:
    """The first module of the screen view this agent cannot import (a build without it), or None."""
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


class ScreenReporter(Protocol):
    """What the screen executors need from the guard, beyond a job's reporter."""

    def engineer_name(self) -> str: ...

    async def send_frame(self, action_id: str, frame: ScreenFrame) -> bool: ...

    def user_stop(self, action_id: str) -> None: ...


@dataclass
class ViewWork:
    capturer: Any = None  # agent.screen.capture.Capturer
    indicator: Any = None  # agent.screen.indicator.Indicator
    left: int = 0
    top: int = 0
    started: float = field(default_factory=time.monotonic)
    frames: int = 0
    bytes: int = 0


class ScreenViewExecutor(BaseExecutor):
    kind = "screen_view"

    def __init__(self, lang: LangSource) -> None:
        self.lang = lang
        self.views: dict[str, ViewWork] = {}

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, ScreenViewParams)
        return Described(
            "screen_view",
            T_VIEW.render(lang),
            T_VIEW_WHAT.render(lang).format(monitor=params.monitor + 1),
            reason,
            T_VIEW_RISK.render(lang),
            "medium",
            T_UNDO.render(lang),
        )

    def refusal(self, params: Any) -> Text | None:
        return T_NO_SCREEN if missing_parts("agent.screen.capture", "mss", "PIL") else None

    async def run(self, job: Job) -> Done:
        from agent.screen.capture import Capturer, monitors  # noqa: PLC0415 (mss, Pillow: only when used)
        from agent.screen.indicator import Indicator  # noqa: PLC0415

        params = job.params
        assert isinstance(params, ScreenViewParams)
        reporter: Any = job.reporter
        found = await asyncio.to_thread(monitors)
        if params.monitor >= len(found):
            raise ActionFailed(f"there is no monitor {params.monitor + 1} (this screen has {len(found)})")
        monitor = found[params.monitor]
        loop = asyncio.get_running_loop()
        work = ViewWork(left=monitor.left, top=monitor.top)
        job.work = work
        self.views[job.action_id] = work
        work.indicator = Indicator(
            reporter.engineer_name(),
            self.lang(),
            lambda: _call_soon(loop, reporter.user_stop, job.action_id),
        )
        if not await asyncio.to_thread(work.indicator.start) or not job.live():
            work.indicator.close()
            raise ActionFailed(T_NO_INDICATOR.en)
        # Only now may pixels flow: the indicator is on screen. done/total: the monitor picked, and how many.
        job.progress(done=params.monitor, total=len(found), note="live")
        work.capturer = Capturer(job.action_id, monitor, lambda: work.indicator.shown() and job.live())
        work.capturer.start()
        stopped_by = "indicator_closed"
        while True:
            item = await asyncio.to_thread(work.capturer.slot.take, 0.25)
            if item is None:
                if work.capturer.stopped.is_set():
                    if work.capturer.error is not None:
                        stopped_by = "error"
                    break
                continue
            frame, picture, _ = item
            began = time.perf_counter()
            if not await reporter.send_frame(job.action_id, frame):
                continue  # not allowed now (or offline): the next picture is diffed against the last sent
            work.capturer.delivered(picture)
            work.frames += 1
            work.bytes += frame.payload_bytes
            work.capturer.pace.sent(time.perf_counter() - began, 1.0 / work.capturer.pace.fps)
        duration = round((time.monotonic() - work.started) * 1000)
        return Done(ScreenOutcome(duration_ms=duration, stopped_by=stopped_by, frames=work.frames))  # type: ignore[arg-type]

    def stop(self, job: Job) -> Stopped:
        work = self.views.get(job.action_id)
        if work is not None:
            if work.capturer is not None:
                work.capturer.stop()
            if work.indicator is not None:
                work.indicator.close()
        return Stopped()

    def cleanup(self, job: Job) -> None:
        self.stop(job)
        self.views.pop(job.action_id, None)


# What control needs on this OS: SendInput through ctypes on Windows, XTEST (python-xlib) elsewhere.
if sys.platform == "win32":
    CONTROL_PARTS = ("agent.screen.wininject",)
else:
    CONTROL_PARTS = ("agent.screen.inject", "Xlib")


def control_classes() -> tuple[Any, Any]:
    """(injector, user watch) classes for this OS, imported only when control starts."""
    if sys.platform == "win32":
        from agent.screen.wininject import WinInjector, WinUserWatch  # noqa: PLC0415

        return WinInjector, WinUserWatch
    else:
        from agent.screen.inject import XInjector  # noqa: PLC0415 (python-xlib: X11 only, when used)
        from agent.screen.watch import UserWatch  # noqa: PLC0415

        return XInjector, UserWatch


@dataclass
class ControlWork:
    injector: Any = None  # agent.screen.inject.XInjector or agent.screen.wininject.WinInjector
    watch: Any = None  # agent.screen.watch.UserWatch or agent.screen.wininject.WinUserWatch
    view: ViewWork | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    paused_events: int = 0


class ScreenControlExecutor(BaseExecutor):
    kind = "screen_control"

    def __init__(self, views: ScreenViewExecutor) -> None:
        self.views = views
        self.controls: dict[str, ControlWork] = {}

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        return Described(
            "screen_control",
            T_CONTROL.render(lang),
            T_CONTROL_WHAT.render(lang),
            reason,
            T_CONTROL_RISK.render(lang),
            "high",
            T_UNDO.render(lang),
        )

    def refusal(self, params: Any) -> Text | None:
        return T_NO_SCREEN if missing_parts(*CONTROL_PARTS) else None

    async def run(self, job: Job) -> Done:
        injector_class, watch_class = control_classes()

        params = job.params
        assert isinstance(params, ScreenControlParams)
        view = self.views.views.get(params.view)
        if view is None:
            raise ActionFailed("the screen view this control belongs to is not on")
        work = ControlWork(view=view)
        job.work = work
        self.controls[job.action_id] = work
        work.injector = await asyncio.to_thread(injector_class, view.left, view.top)
        work.watch = watch_class(work.injector)
        work.watch.start()
        if view.indicator is not None:
            view.indicator.control(True)
        job.progress(note="live")
        started = time.monotonic()
        await work.done.wait()  # until stopped (the book sends the result then) or the view ends
        return Done(
            ScreenOutcome(duration_ms=round((time.monotonic() - started) * 1000), stopped_by="view_ended")
        )

    def inject(self, job: Job, events: list[InputEvent]) -> bool:
        """The engineer's input; dropped (False) while the user is using their own mouse or keyboard."""
        work = self.controls.get(job.action_id)
        if work is None or work.injector is None:
            return False
        if work.watch is not None and work.watch.paused():
            work.paused_events += 1
            return False
        try:
            work.injector.apply(events)
        except (ValueError, OSError):
            return False
        return True

    def stop(self, job: Job) -> Stopped:
        work = self.controls.get(job.action_id)
        if work is not None:
            if work.watch is not None:
                work.watch.stop()
            if work.view is not None and work.view.indicator is not None:
                work.view.indicator.control(False)
            work.done.set()
        return Stopped()

    def cleanup(self, job: Job) -> None:
        work = self.controls.pop(job.action_id, None)
        if work is not None:
            if work.watch is not None:
                work.watch.stop()
            if work.injector is not None:
                with contextlib.suppress(Exception):  # the X connection may be gone with the X server
                    work.injector.close()
