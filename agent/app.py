"""One running agent: the connection, the session guard, the feed and the panel, wired together.

`rme-agent run` and `rme-agent help` build one `AgentRuntime` and run it until Ctrl-C, SIGTERM or the
window closing; stopping runs the kill switch first. The runtime is also the panel's backend (what the
page shows, what its buttons do) and so the local control channel's.
"""

from __future__ import annotations

import asyncio
import contextlib
import webbrowser
from pathlib import Path
from typing import Any

from agent.billing import records as service_records
from agent.config import AgentConfig
from agent.connection import AgentClient, IdentityStore
from agent.connection.client import HelpStatus
from agent.datadir import LOGS, T_REPAIRED, make_private
from agent.executors.diagnose import run_diagnosis_in_words
from agent.executors.rescue_write import WriteImageExecutor
from agent.i18n import Lang, system_lang
from agent.panel.host import PanelHost
from agent.panel.usb import UsbWriter
from agent.rescue.confirm import DiskQuestions
from agent.session import texts
from agent.session.feed import Feed, UserLog
from agent.session.guard import SessionGuard
from agent.session.rating import FeedbackRefused
from agent.session.vault_panel import PanelVault
from agent.vault import Vault
from protocol.messages import (
    CatalogueRequest,
    Envelope,
    HelpRequest,
    HelpRequestBody,
    Message,
    Records,
    RecordsRequest,
)
from protocol.report import DiagnosisReport


class Offline:
    """The outbox when no server is configured: nothing leaves, everything is kept for later."""

    async def send(self, message: Envelope) -> bool:
        return False

    async def deliver(self, message: Envelope) -> bool:
        return False


class AgentRuntime:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.lang: Lang = config.lang or system_lang()
        repaired = make_private(config.data_dir)  # 0700, session logs 0600: checked at every start
        self.log = UserLog(config.data_dir / LOGS, self.lang)
        self.feed = Feed(self.log)
        if repaired:
            self.feed.add("info", T_REPAIRED, paths=", ".join(str(p) for p in repaired))
        self.client: AgentClient | None = None
        if config.server:
            self.client = AgentClient(
                config.server, config.ca_path, IdentityStore(config.data_dir),
                reconnect_min=config.reconnect_min, reconnect_max=config.reconnect_max,
                connect_timeout=config.connect_timeout,
            )  # fmt: skip
        self.vault = Vault(config.data_dir, self.lang)
        self.guard = SessionGuard(config, self.feed, self.client or Offline(), self.lang, self.vault)
        self.guard.on_session_start = self._session_starting
        self.disk_questions().on_change = self.feed.touch  # the screens redraw when a question comes or goes
        self.vault_panel = PanelVault(self.vault, self.feed)
        self.panel = PanelHost(self, config.data_dir, config.panel_port)
        # The panel's rescue USB writer: images from the inbox and Downloads, removable disks only.
        self.usb_writer = UsbWriter([config.inbox_dir, Path.home() / "Downloads"])
        self.diagnosis: DiagnosisReport | None = None
        self.diagnosis_words: dict[Lang, str] = {}  # its headline in every language (the rescue screen)
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()  # the panel is up and panel.json written
        if self.client is not None:
            self._wire(self.client)

    def _wire(self, client: AgentClient) -> None:
        async def on_message(message: Message) -> None:
            await self.guard.handle(message)

        async def on_ready() -> None:
            self.feed.add("connection", texts.CONNECTED, device=client.device_id)
            await self.guard.report_unreported()

        async def on_lost(why: str) -> None:
            await self.guard.connection_lost()

        client.on_message = on_message
        client.on_chunk = self.guard.handle_chunk
        client.on_ready = on_ready
        client.on_lost = on_lost
        client.on_state = self.feed.touch
        client.on_help = self._help_changed
        client.on_catalogue = self.guard.catalogue.update

    def _help_changed(self, status: HelpStatus) -> None:
        if status.state == "queued":
            self.feed.add("help", texts.HELP_QUEUED, position=status.position)
        elif status.state == "refused":
            why = status.reason_zh if self.lang == "zh-CN" and status.reason_zh else status.reason
            self.feed.add("help", texts.HELP_REFUSED, why=why)

    def _session_starting(self) -> None:
        if self.config.open_browser:
            with contextlib.suppress(Exception):
                webbrowser.open(self.panel.login_url())

    # -- running ----------------------------------------------------------------------------------

    async def run(self, help_words: str | None = None, help_item: str | None = None) -> None:
        """Serve until `self.stop` is set; then the kill switch, then close everything."""
        self.guard.inbox.clean_partials()  # a crash mid-push left a temporary file: never a half file
        self.guard.ledger.kill_leftovers()  # a killed agent's commands do not outlive it
        await self.panel.start()
        self.ready.set()
        tasks: list[asyncio.Task[Any]] = []
        if self.client is not None:
            self.feed.add("connection", texts.CONNECTING, server=self.client.url)
            tasks.append(asyncio.ensure_future(self.client.run(self.stop)))
        if help_words is not None:
            tasks.append(asyncio.ensure_future(self.ask_for_help(help_words, help_item)))
        try:
            await self.stop.wait()
        finally:
            await self.guard.close()
            if self.client is not None:
                await self.client.close()
            # The client loop sees `stop` and the closed socket and returns; cancel only what lingers.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.gather(*tasks, return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.feed.closing = True
            self.feed.touch()
            await self.panel.stop()

    # -- the panel's backend ----------------------------------------------------------------------

    def state_json(self) -> dict[str, Any]:
        client = self.client
        connection = {
            "state": client.state if client else "offline",
            "device": client.device_id if client else None,
            "server": client.url if client else None,
            "error": client.last_error if client else None,
        }
        return {
            "lang": self.lang,
            "connection": connection,
            "guard": self.guard.to_json(),
            "help": client.help.to_json() if client else {"state": "none"},
            "diagnosis": self.diagnosis.model_dump(mode="json") if self.diagnosis else None,
            "diagnosis_words": dict(self.diagnosis_words) if self.diagnosis else None,
            "feed": [entry.to_json() for entry in self.feed.entries],
            "disk_questions": [q.to_json() for q in self.disk_questions().pending()],
        }

    def disk_questions(self) -> DiskQuestions:
        """The rescue screen's "type the disk's name" questions (`rescue_write_image`)."""
        writer = self.guard.executors.get("rescue_write_image")
        return writer.questions if isinstance(writer, WriteImageExecutor) else DiskQuestions()

    def answer_disk(self, action_id: str, typed: str) -> bool:
        """The name the user typed for a disk about to be overwritten (anything but its name cancels)."""
        ok = self.disk_questions().answer(action_id, typed)
        self.feed.touch()
        return ok

    async def usb_status(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.usb_writer.status)

    async def usb_write(self, image: object, device: object, size: object) -> dict[str, Any]:
        return await asyncio.to_thread(self.usb_writer.start, image, device, size)

    def usb_cancel(self) -> bool:
        return self.usb_writer.cancel()

    async def changed(self, since: int, wait_s: float) -> int:
        return await self.feed.changed(since, wait_s)

    def answer(self, prompt_id: str, allow: bool, send_output: bool = False) -> bool:
        ok = self.guard.answer(prompt_id, allow, send_output=send_output)
        self.feed.touch()
        return ok

    def release(self, action_id: str, send: bool) -> bool:
        ok = self.guard.release(action_id, send)
        self.feed.touch()
        return ok

    def stop_screen(self, action_id: str) -> bool:
        ok = self.guard.user_stop(action_id)
        self.feed.touch()
        return ok

    async def end_session(self) -> dict[str, Any]:
        summary = await self.guard.end("ended_by_user")
        if summary is None:
            return {"ended": False}
        return {
            "ended": True,
            "refused": summary.refused,
            "killed": summary.killed,
            "files": summary.files,
            "elapsed_ms": round(summary.elapsed_ms, 2),
        }

    async def send_feedback(self, rating: object, comment: object) -> dict[str, Any]:
        """The user's rating of the last ended session: sent (and confirmed), or why not."""
        try:
            sent = await self.guard.feedback(rating, comment)
        except FeedbackRefused as exc:
            return {"sent": False, "error": exc.problem, "message": exc.message}
        return {"sent": True, "rating": sent}

    def dismiss_feedback(self) -> bool:
        return self.guard.dismiss_feedback()

    async def catalogue(self) -> dict[str, Any]:
        """The service items the user may pick, each with its price or "included in your plan" (asks the
        server; offline: the last list known, or none)."""
        if self.client is not None:
            await self.client.ask(CatalogueRequest(), "catalogue")
        return {"online": self.client is not None and self.client.state == "online",
                **self.guard.catalogue.to_json(self.lang)}  # fmt: skip

    async def records(self) -> dict[str, Any]:
        """The user's service records (事后可查): each finished session as the server signed it."""
        if self.client is None:
            return {"online": False, "records": []}
        answer = await self.client.ask(RecordsRequest(), "records", wait_s=20.0)
        if not isinstance(answer, Records):
            return {"online": False, "records": []}
        return {
            "online": True,
            "records": [service_records.view(text, self.lang) for text in answer.body.receipts],
        }

    async def ask_for_help(self, words: str, item: str | None = None) -> dict[str, Any]:
        """Diagnose, then send the help request with the report (now, or when the connection is up)."""
        try:
            report, headlines = await run_diagnosis_in_words(
                self.lang, config_path=self.config.config_file, data_dir=self.config.data_dir
            )
            self.diagnosis, self.diagnosis_words = report, headlines
        except Exception:  # a broken probe must never stop a call for help
            self.diagnosis, self.diagnosis_words = None, {}
        self.feed.add("help", texts.HELP_SENT, words=words[:200])
        if self.client is None:
            return {"sent": False, "reason": "no server configured"}
        request = HelpRequest(
            body=HelpRequestBody(
                words=words, report=self.diagnosis, lang=self.lang, service_item=item or None
            )
        )
        await self.client.request_help(request)
        return {"sent": True, "help": self.client.help.to_json()}

    async def vault_status(self) -> dict[str, Any]:
        return await self.vault_panel.status()

    async def vault_open(self, passphrase: object, name: object) -> dict[str, Any]:
        return await self.vault_panel.open(passphrase, name)

    async def vault_close(self, name: object) -> dict[str, Any]:
        return await self.vault_panel.close(name)

    async def vault_add(self, path: object, name: object) -> dict[str, Any]:
        return await self.vault_panel.add(path, name)

    async def vault_remove(self, passphrase: object, name: object) -> dict[str, Any]:
        return await self.vault_panel.remove(passphrase, name)

    def set_lang(self, lang: str) -> None:
        if lang in ("zh-CN", "en"):
            self.lang = lang  # type: ignore[assignment]
            self.guard.lang = self.lang
            self.log.lang = self.lang
            self.vault.lang = self.lang
            self.feed.touch()
