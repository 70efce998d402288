"""The session guard: the thin I/O loop around the session book. Every engineer request passes here.

The connection loop hands every message about a session to `handle` and every file chunk to
`handle_chunk`; the panel hands over the user's clicks (`answer`, `release`, `end`). Each becomes one
call into the pure `SessionBook` (`agent.session.book`), whose decisions are carried out here in order:
messages go to the server through one ordered sender, lines go to the feed, allowed actions go to their
executor (`agent.executors`), the vault is locked and unlocked in a worker thread, the clock is a single
timer armed for the prompt on screen.

`end()` is the kill switch. It works on local state first and synchronously — the prompt and the queue
refused, every executor stopped (process trees killed, partial files deleted) — and only then tells the
server (or, when the network is gone, keeps the end in `UnreportedEnds` for the next connection). The
promise is < 200 ms from End to all stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import executors
from agent.actions.command import CommandLedger
from agent.billing.catalogue import CatalogueCache
from agent.config import AgentConfig
from agent.executors.base import ActionFailed, Executor, Job
from agent.executors.described import Described
from agent.i18n import LANGS, Lang, Text
from agent.inbox import Inbox
from agent.session import texts
from agent.session.book import (
    Effect,
    Execute,
    LockVault,
    Send,
    SessionBook,
    SessionInfo,
    SessionStarting,
    Show,
    Status,
    Stop,
    UnlockVault,
)
from agent.session.feed import Feed
from agent.session.outbox import Outbox
from agent.session.panel_state import OutputShelf, guard_json
from agent.session.rating import FeedbackRefused, RatingDesk, RatingOffer
from agent.session.reports import UnreportedEnd, UnreportedEnds
from agent.vault import Vault, VaultError
from protocol.actions import ActionOutcome, CommandOutcome
from protocol.codec import FileChunk
from protocol.messages import (
    ActionRequest,
    ActionStop,
    Chat,
    Envelope,
    Error,
    Message,
    ScreenInput,
    SessionEnd,
    SessionEndBody,
    SessionEndReason,
    SessionOffer,
    now_ms,
)
from protocol.screen import ScreenFrame

__all__ = ["EndSummary", "FeedbackRefused", "Outbox", "SessionGuard"]


@dataclass(frozen=True)
class EndSummary:
    refused: int
    killed: int
    files: int
    elapsed_ms: float


class SessionGuard:
    def __init__(
        self, config: AgentConfig, feed: Feed, outbox: Outbox, lang: Lang, vault: Vault | None = None
    ) -> None:
        self.config = config
        self.feed = feed
        self.outbox = outbox
        self.lang = lang
        self.vault = vault
        self.inbox = Inbox(config.inbox_dir, config.max_push_size, config.inbox_reserve)
        self.unreported = UnreportedEnds(config.data_dir / "unreported-ends.json")
        self.ledger = CommandLedger(config.data_dir / "running-commands.json")
        self.book = SessionBook(config.consent_timeout)
        self.catalogue = CatalogueCache()  # the service items the server offers (`catalogue`)
        self.executors: Mapping[str, Executor] = executors.build(
            lang=lambda: self.lang,
            data_dir=config.data_dir,
            config_file=config.config_file,  # the diagnosis and repairs read the agent's own file
            inbox=self.inbox,
            ledger=self.ledger,
            touches_vault=self._touches_vault,
            push_idle_timeout=config.push_idle_timeout,
            vault=vault,  # commands run where the vault and the data dir do not exist (agent/sandbox)
            catalogue=self.catalogue,
            rescue=config.rescue,  # the rescue live system: disk actions exist only there
        )
        self.jobs: dict[str, Job] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.desk = RatingDesk(feed)
        self.outputs = OutputShelf()
        self.on_session_start: Callable[[], None] | None = None
        self.last_end: EndSummary | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sending: asyncio.Queue[Envelope] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- views kept for the runtime, the panel and tests ---------------------------------------------

    @property
    def session(self) -> SessionInfo | None:
        return self.book.session

    @property
    def active(self) -> bool:
        return self.book.active

    @property
    def rating(self) -> RatingOffer | None:
        return self.desk.offer

    # -- carrying out the book's decisions ------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _send_in_order(self) -> None:
        while True:
            message = await self._sending.get()
            try:
                await self.outbox.send(message)
            except Exception:  # noqa: S112 (a broken connection must not stop the next send)
                continue
            finally:
                self._sending.task_done()

    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                if self._sender is None or self._sender.done():
                    self._sender = asyncio.ensure_future(self._send_in_order())
                self._sending.put_nowait(effect.message)
            elif isinstance(effect, Show):
                self.feed.add(effect.kind, effect.template, effect.detail, **effect.fields)
            elif isinstance(effect, Execute):
                self._execute(effect.action_id)
            elif isinstance(effect, Stop):
                self._stop(effect.action_id)
            elif isinstance(effect, LockVault):
                self._spawn(self._lock_vault(effect.session))
            elif isinstance(effect, UnlockVault):
                self._spawn(self._unlock_vault())
            elif isinstance(effect, SessionStarting) and self.on_session_start is not None:
                self.on_session_start()
        self._arm()
        self.feed.touch()

    def _arm(self) -> None:
        """One timer, for the deadline of the prompt on screen (no answer in time = Deny)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.book.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._apply(self.book.tick(time.monotonic()))

    # -- the reporter executors talk back through -----------------------------------------------------

    def progress(
        self, action_id: str, *, done: int | None = None, total: int | None = None, note: str | None = None
    ) -> None:
        self._apply(self.book.progress(action_id, done=done, total=total, note=note))

    def show(self, kind: str, template: Text, detail: str | None = None, **fields: object) -> None:
        self.feed.add(kind, template, detail, **fields)

    def live(self, action_id: str) -> bool:
        return self.book.live(action_id)

    # -- incoming -------------------------------------------------------------------------------------

    async def handle(self, message: Message) -> None:
        """A message from the server about a session (the connection loop filters the rest)."""
        now = time.monotonic()
        if isinstance(message, SessionOffer):
            if message.session is None:
                return
            body = message.body
            effects = self.book.offer(message.session, body.ticket_id, body.engineer, now, time.time())
            if self.book.session is not None and self.book.session.id == message.session:
                self.desk.forget()  # a new session: the old question is no longer asked
            self._apply(effects)
        elif isinstance(message, ActionRequest):
            self._request(message, now)
        elif isinstance(message, SessionEnd):
            if self.book.session is not None and message.session == self.book.session.id:
                await self.end(message.body.reason, tell_server=False)
        elif isinstance(message, ActionStop):
            self._apply(self.book.engineer_stop(message.session, message.body.action_id, now))
        elif isinstance(message, ScreenInput):
            self._input(message)
        elif isinstance(message, Chat) and self.active and message.session == self._session_id():
            self.feed.add("chat", texts.CHAT, words=message.body.text)
        elif isinstance(message, Error) and message.body.code == "file.rejected":
            job = self.jobs.get(message.body.ref or "")
            if job is not None:
                self.executors[job.params.kind].reject(job, message.body.message)

    # -- the screen view and control --------------------------------------------------------------------

    def _input(self, message: ScreenInput) -> None:
        """The engineer's mouse and keyboard: only into a running control whose view runs."""
        action_id = message.body.action_id
        job = self.jobs.get(action_id)
        if job is None or not self.book.input_allowed(message.session, action_id):
            return
        executor = self.executors[job.params.kind]
        inject = getattr(executor, "inject", None)
        if inject is not None:
            inject(job, list(message.body.events))

    async def send_frame(self, action_id: str, frame: ScreenFrame) -> bool:
        """A screen frame leaves only while the book says the view runs (asked right before sending)."""
        if not self.book.frame_allowed(action_id):
            return False
        send_screen = getattr(self.outbox, "send_screen", None)
        if send_screen is None or not await send_screen(frame):
            return False
        self.book.frame_sent(action_id)
        return True

    def user_stop(self, action_id: str) -> bool:
        """The user's Stop on a screen view or control (the panel, or the on-screen indicator)."""
        effects = self.book.stop_stream(action_id, time.monotonic())
        if effects is None:
            return False
        self._apply(effects)
        return True

    def engineer_name(self) -> str:
        return self.book.session.engineer.name if self.book.session is not None else "?"

    def _session_id(self) -> str | None:
        return self.book.session.id if self.book.session is not None else None

    def _request(self, message: ActionRequest, now: float) -> None:
        body = message.body
        executor = self.executors.get(body.action.kind)
        described: dict[Lang, Any] = {}
        refusal: Text | None = None
        if self.active and message.session == self._session_id() and body.action_id not in self.book.actions:
            if executor is None:  # a kind the protocol knows and this agent cannot do: never asked
                unknown = Described(body.action.kind, body.action.kind, "", body.reason, "", "high", "")
                described = dict.fromkeys(LANGS, unknown)
                refusal = texts.REFUSED_UNSUPPORTED
            else:
                described = {lang: executor.describe(body.action, body.reason, lang) for lang in LANGS}
                refusal = executor.refusal(body.action)
        effects = self.book.request(
            message.session,
            body.action_id,
            body.action,
            described=described,
            refusal=refusal,
            now=now,
            holds_output=executor is not None and executor.holds_output,
        )
        self._apply(effects)

    def handle_chunk(self, chunk: FileChunk) -> None:
        """File bytes: accepted only for a consented push of the active session, in order."""
        if not self.book.running(chunk.action_id):
            return  # not consented, finished or ended: never written
        job = self.jobs.get(chunk.action_id)
        if job is not None:
            self.executors[job.params.kind].receive(job, chunk)

    def _touches_vault(self, text: str) -> bool:
        if self.vault is None:
            return False
        try:
            return self.vault.request_touches_vault(text, cwd=Path.home())
        except (VaultError, OSError):
            return True  # cannot tell: the vault wins

    # -- the vault around a session -------------------------------------------------------------------

    async def _lock_vault(self, session: str) -> None:
        if self.vault is None:
            self._apply(self.book.vault_locked(session, None))
            return
        try:
            closed = await asyncio.to_thread(self.vault.begin_session)
        except (VaultError, OSError) as exc:
            why = exc.bilingual() if isinstance(exc, VaultError) else str(exc)  # the vault's zh-CN and en
            self._apply(self.book.vault_failed(session, why))
            return
        self._apply(self.book.vault_locked(session, len(closed)))

    async def _unlock_vault(self) -> None:
        if self.vault is None:
            return
        try:
            await asyncio.to_thread(self.vault.end_session)
        except (VaultError, OSError):
            return
        self.feed.add("session", texts.VAULT_UNLOCKED)

    # -- running one allowed action -------------------------------------------------------------------

    def _execute(self, action_id: str) -> None:
        record = self.book.actions[action_id]
        job = Job(action_id, record.session, record.params, self)
        self.jobs[action_id] = job
        task = self._spawn(self._run(job))
        self.tasks[action_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(action_id, None))

    async def _run(self, job: Job) -> None:
        executor = self.executors[job.params.kind]
        outcome: ActionOutcome | None = None
        error: str | None = None
        status: Status = "ok"
        try:
            done = await executor.run(job)
            outcome, error = done.outcome, done.error
            if error is not None:
                status = "failed"
        except asyncio.CancelledError:
            if not self.book.live(job.action_id):
                return
            status, error = "cancelled", "the session ended"
        except (ActionFailed, OSError, ValueError) as exc:
            status, error = "failed", str(exc)[:250]
        finally:
            executor.cleanup(job)
            self.jobs.pop(job.action_id, None)
        effects = self.book.finished(job.action_id, status, outcome, error)
        record = self.book.actions.get(job.action_id)
        if isinstance(outcome, CommandOutcome) and record is not None and effects:
            self.outputs.add(record, outcome, "held" if record.held is not None else "auto")
        self._apply(effects)

    def _stop(self, action_id: str) -> tuple[int, int]:
        job = self.jobs.get(action_id)
        killed = files = 0
        if job is not None:
            stopped = self.executors[job.params.kind].stop(job)
            killed, files = stopped.killed, stopped.files
        task = self.tasks.get(action_id)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        return killed, files

    # -- the user's answers ---------------------------------------------------------------------------

    def answer(self, prompt_id: str, allow: bool, send_output: bool = False) -> bool:
        effects = self.book.answer(prompt_id, allow, time.monotonic(), send_output=send_output)
        if effects is None:
            return False
        self._apply(effects)
        return True

    def release(self, action_id: str, send: bool) -> bool:
        """The user's decision on a command's output shown in the panel: send it, or keep it here."""
        effects = self.book.release(action_id, send)
        if effects is None:
            return False
        self.outputs.mark(action_id, "sent" if send else "kept")
        self._apply(effects)
        return True

    # -- the kill switch ------------------------------------------------------------------------------

    async def end(
        self, reason: SessionEndReason = "ended_by_user", tell_server: bool = True, note: str | None = None
    ) -> EndSummary | None:
        """End the session now: refuse, kill, delete — locally first — then tell the server."""
        start = time.perf_counter()
        ended = self.book.end()
        if ended is None:
            return None
        killed = files = 0
        for action_id in ended.stopped:
            k, f = self._stop(action_id)
            killed += k
            files += f
        self.outputs.drop_held()
        summary = EndSummary(ended.refused, killed, files, (time.perf_counter() - start) * 1000)
        self.last_end = summary
        if reason == "ended_by_user":
            self.feed.add(
                "end",
                texts.END_BY_USER,
                refused=ended.refused,
                killed=killed,
                files=files,
                ms=round(summary.elapsed_ms, 1),
            )
        else:
            self.feed.add("end", texts.END_BY_OTHER, why=reason)
        if ended.was_active:
            self._spawn(self._unlock_vault())
        report: asyncio.Task[Any] | None = None
        if tell_server:
            item = UnreportedEnd(ended.session.id, reason, now_ms(), note)
            report = self._spawn(self._report_end(item))
        if ended.was_active:  # "How did it go?" about every session that ran
            self.desk.ended(ended.session.id, ended.session.engineer, reason, report)
        self._arm()
        self.feed.touch()
        return summary

    async def _report_end(self, item: UnreportedEnd) -> None:
        """Keep the end on disk until the server provably has it."""
        await asyncio.to_thread(self.unreported.add, item)
        if await self.outbox.deliver(self._end_message(item)):
            await asyncio.to_thread(self.unreported.remove, item.session)
        else:
            self.feed.add("end", texts.END_OFFLINE)

    @staticmethod
    def _end_message(item: UnreportedEnd) -> SessionEnd:
        reason: SessionEndReason = item.reason  # type: ignore[assignment]
        return SessionEnd(session=item.session, body=SessionEndBody(reason=reason, note=item.note))

    async def report_unreported(self) -> None:
        """On every new connection: tell the server about sessions ended while it could not hear."""
        for item in await asyncio.to_thread(self.unreported.load):
            if self.book.session is not None and self.book.session.id == item.session:
                continue
            if await self.outbox.deliver(self._end_message(item)):
                await asyncio.to_thread(self.unreported.remove, item.session)
                self.feed.add("end", texts.REPORTED_LATER, session=item.session)

    async def connection_lost(self) -> None:
        """No server, no engineer: a session cannot go on unobserved by the relay. End it locally."""
        if self.book.session is not None:
            await self.end("connection_lost", tell_server=False)
        # The server takes a rating only on the connection that saw the end: that one is gone.
        self.desk.forget()
        self.feed.touch()

    # -- the satisfaction rating ----------------------------------------------------------------------

    async def feedback(self, rating: object, comment: object = "") -> int:
        """Send the user's 1–5 rating of the last ended session; raises `FeedbackRefused` if not sent."""
        return await self.desk.send(self.outbox, rating, comment)

    def dismiss_feedback(self) -> bool:
        return self.desk.dismiss()

    async def close(self) -> None:
        """Closing the agent: the kill switch, then give the report a moment to leave."""
        await self.end("ended_by_user")
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        if self._sender is not None:
            with contextlib.suppress(TimeoutError):  # what the book decided before the end still leaves
                async with asyncio.timeout(1.0):
                    await self._sending.join()
            self._sender.cancel()
        if self._timer is not None:
            self._timer.cancel()

    # -- for the panel --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return guard_json(self.book, self.desk, self.outputs, time.monotonic())
