"""The session guard: the agent's last line of defence. Every engineer request passes through here.

Theory of operation. The connection loop hands every message about a session to `handle` and every file
chunk to `handle_chunk`. The guard keeps the session and each action in the lifecycle tables of
`protocol.lifecycle` (the same tables the server keeps), so nothing out of order — a result before consent,
a chunk before Allow, a request after the end — can ever do anything here, whatever the server relays.

For one request:  policy (vault paths, inbox limits: `refused` before asking) → the user is asked, in
plain words, with a timeout (no answer = Deny) → the executor runs → the result goes back. Everything is
written to the feed (the panel) and the user's own log.

`end()` is the kill switch. It works on local state first and synchronously — prompts refused, process
trees killed, partial files deleted — and only then tells the server (or, when the network is gone, keeps
the end in `UnreportedEnds` for the next connection). The promise is < 200 ms from End to all stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from agent.actions.command import CommandLedger, RunningCommand, finish_command, start_command
from agent.actions.describe import Described, describe, human_size
from agent.actions.diagnose import diagnose_action, repair_action
from agent.config import AgentConfig
from agent.i18n import Lang, Text
from agent.inbox import Inbox, InboxError, PendingFile, sanitize_name
from agent.repairs import RepairError
from agent.session import texts
from agent.session.feed import Feed
from agent.session.prompts import Decision, PromptBoard
from agent.session.reports import UnreportedEnd, UnreportedEnds
from agent.vault import Vault, VaultError
from protocol.actions import (
    ActionOutcome,
    CommandParams,
    DiagnoseParams,
    PushFileOutcome,
    PushFileParams,
    RepairParams,
)
from protocol.codec import FileChunk
from protocol.errors import ProtocolError
from protocol.lifecycle import FINAL_ACTION_STATES, ActionState, SessionState, advance_action, advance_session
from protocol.limits import MAX_SUMMARY_TEXT
from protocol.messages import (
    ActionProgress,
    ActionProgressBody,
    ActionRequest,
    ActionResult,
    ActionResultBody,
    Chat,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
    EngineerIdentity,
    Envelope,
    Error,
    Feedback,
    FeedbackBody,
    Message,
    SessionAccept,
    SessionDecline,
    SessionDeclineBody,
    SessionEnd,
    SessionEndBody,
    SessionEndReason,
    SessionOffer,
    now_ms,
)

PROGRESS_STEPS = 10  # progress messages per pushed file
MAX_FEEDBACK_COMMENT = MAX_SUMMARY_TEXT  # the protocol's limit for `FeedbackBody.comment`
END_REPORT_WAIT_S = 5.0  # a rating waits this long for the end report to leave first
FeedbackProblem = Literal["bad_rating", "comment_too_long", "no_session", "already_rated", "offline"]


class Outbox(Protocol):
    """The connection as the guard sees it."""

    async def send(self, message: Envelope) -> bool:
        """Send if connected; False when offline (the guard then carries on locally)."""

    async def deliver(self, message: Envelope) -> bool:
        """Send and confirm the server has it (ping answered after the frame); False if not confirmed."""


@dataclass
class ActionRecord:
    id: str
    session: str
    described: dict[Lang, Described]
    state: ActionState = ActionState.REQUESTED
    task: asyncio.Task[None] | None = None
    running: RunningCommand | None = None
    pending_file: PendingFile | None = None
    file_done: asyncio.Future[str] | None = None
    last_chunk: float = 0.0
    progress_sent: int = 0

    def title(self) -> Text:
        return Text(self.described["zh-CN"].title, self.described["en"].title)


@dataclass
class SessionInfo:
    id: str
    ticket_id: str
    engineer: EngineerIdentity
    state: SessionState = SessionState.OFFERED
    started: float = field(default_factory=time.time)


@dataclass
class RatingOffer:
    """An ended session the user may rate once (the server takes it only on the connection that ended it)."""

    session: str
    engineer: EngineerIdentity
    reason: SessionEndReason
    end_report: asyncio.Task[Any] | None = None  # the rating must not overtake the end it follows


class FeedbackRefused(Exception):
    """The rating was not sent: `problem` says why (bad input, nothing to rate, already rated, offline)."""

    def __init__(self, problem: FeedbackProblem, message: str) -> None:
        super().__init__(message)
        self.problem: FeedbackProblem = problem
        self.message = message


@dataclass(frozen=True)
class EndSummary:
    refused: int
    killed: int
    files: int
    elapsed_ms: float


def _both(body: Any, fn: Callable[[Any, Lang], Described]) -> dict[Lang, Described]:
    return {"zh-CN": fn(body, "zh-CN"), "en": fn(body, "en")}


class SessionGuard:
    def __init__(
        self, config: AgentConfig, feed: Feed, outbox: Outbox, lang: Lang, vault: Vault | None = None
    ) -> None:
        self.config = config
        self.feed = feed
        self.outbox = outbox
        self.lang = lang
        self.vault = vault
        self.prompts = PromptBoard()
        self.inbox = Inbox(config.inbox_dir, config.max_push_size, config.inbox_reserve)
        self.unreported = UnreportedEnds(config.data_dir / "unreported-ends.json")
        self.ledger = CommandLedger(config.data_dir / "running-commands.json")
        self.session: SessionInfo | None = None
        self.actions: dict[str, ActionRecord] = {}
        self.on_session_start: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_end: EndSummary | None = None
        self.rating: RatingOffer | None = None  # the session the panel asks "How did it go?" about
        self.rated: set[str] = set()  # sessions rated or dismissed: one answer per session
        self.last_ended: str | None = None  # the last session that was active when it ended

    # -- plumbing ---------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _session_id(self) -> str | None:
        return self.session.id if self.session is not None else None

    @property
    def active(self) -> bool:
        return self.session is not None and self.session.state is SessionState.ACTIVE

    def _live(self, record: ActionRecord) -> bool:
        return (
            self.session is not None
            and self.session.id == record.session
            and self.session.state is SessionState.ACTIVE
            and record.state not in FINAL_ACTION_STATES
        )

    async def _send_action(self, record: ActionRecord, message: Envelope, event: str) -> None:
        """Move the action's lifecycle on, then send; never sends what the table does not allow."""
        try:
            record.state = advance_action(record.state, event)
        except ProtocolError:
            return
        await self.outbox.send(message)
        self.feed.touch()

    # -- incoming ---------------------------------------------------------------------------------

    async def handle(self, message: Message) -> None:
        """A message from the server about a session (the connection loop filters the rest)."""
        if isinstance(message, SessionOffer):
            self._spawn(self._offer(message))
        elif isinstance(message, ActionRequest):
            self._spawn(self._request(message))
        elif isinstance(message, SessionEnd):
            if self.session is not None and message.session == self.session.id:
                await self.end(message.body.reason, tell_server=False)
        elif isinstance(message, Chat) and self.active and message.session == self._session_id():
            self.feed.add("chat", texts.CHAT, words=message.body.text)
        elif isinstance(message, Error) and message.body.code == "file.rejected":
            self._push_rejected(message)

    def _push_rejected(self, message: Error) -> None:
        """The relay refused a push's last chunk (hash mismatch): give up now, not at the idle timeout."""
        record = self.actions.get(message.body.ref or "")
        if record is None or record.file_done is None or record.file_done.done():
            return
        record.file_done.set_exception(InboxError("rejected", message.body.message))

    def handle_chunk(self, chunk: FileChunk) -> None:
        """File bytes: accepted only for a consented push of the active session, in order."""
        record = self.actions.get(chunk.action_id)
        if (
            record is None
            or record.pending_file is None
            or record.file_done is None
            or not self._live(record)
        ):
            return  # not consented, finished or ended: never written
        if record.file_done.done():
            return
        record.last_chunk = time.monotonic()
        try:
            name = record.pending_file.write(chunk)
        except InboxError as exc:
            record.file_done.set_exception(exc)
            return
        if name is not None:
            record.file_done.set_result(name)
            return
        size = record.pending_file.size
        step = size // PROGRESS_STEPS or 1
        if record.pending_file.received // step > record.progress_sent:
            record.progress_sent = record.pending_file.received // step
            body = ActionProgressBody(action_id=record.id, done=record.pending_file.received, total=size)
            self._spawn(
                self._send_action(
                    record, ActionProgress(session=record.session, body=body), "action.progress"
                )
            )

    # -- the session offer ------------------------------------------------------------------------

    async def _offer(self, message: SessionOffer) -> None:
        engineer = message.body.engineer
        session_id = message.session
        if session_id is None:
            return
        if self.session is not None and self.session.state in (SessionState.OFFERED, SessionState.ACTIVE):
            self.feed.add("session", texts.OFFER_BUSY)
            await self.outbox.send(SessionDecline(session=session_id, body=SessionDeclineBody(reason="busy")))
            return
        info = SessionInfo(session_id, message.body.ticket_id, engineer)
        self.session = info
        self.rating = None  # a new session: the old question is no longer asked
        self.feed.add("session", texts.OFFER, name=engineer.name, id=engineer.id)
        content = {
            "engineer": {"name": engineer.name, "id": engineer.id},
            "ticket": info.ticket_id,
            "title": {
                "zh-CN": texts.OFFER.zh.format(name=engineer.name, id=engineer.id),
                "en": texts.OFFER.en.format(name=engineer.name, id=engineer.id),
            },
        }
        prompt = self.prompts.ask("session", content, self.config.consent_timeout)
        if self.on_session_start is not None:
            self.on_session_start()
        decision = await prompt.wait()
        self.prompts.settle(prompt)
        if self.session is not info or info.state is not SessionState.OFFERED:
            return  # ended meanwhile
        if decision == "allowed":
            await self._accept(info)
        else:
            text = texts.OFFER_TIMED_OUT if decision == "timed_out" else texts.OFFER_DECLINED
            info.state = advance_session(info.state, "session.decline")
            self.feed.add("session", text, name=engineer.name)
            reason = "timed_out" if decision == "timed_out" else "declined by the user"
            await self.outbox.send(SessionDecline(session=info.id, body=SessionDeclineBody(reason=reason)))
            self.session = None

    async def _accept(self, info: SessionInfo) -> None:
        if self.vault is not None:
            try:
                closed = await asyncio.to_thread(self.vault.begin_session)
            except (VaultError, OSError) as exc:
                info.state = advance_session(info.state, "session.decline")
                self.feed.add("session", texts.VAULT_FAILED, why=str(exc))
                await self.outbox.send(
                    SessionDecline(session=info.id, body=SessionDeclineBody(reason="vault"))
                )
                self.session = None
                return
            self.feed.add("session", texts.VAULT_CLOSED, count=len(closed))
        if self.session is not info or info.state is not SessionState.OFFERED:
            await self._vault_end()
            return
        info.state = advance_session(info.state, "session.accept")
        self.feed.add("session", texts.OFFER_ACCEPTED, name=info.engineer.name, id=info.engineer.id)
        await self.outbox.send(SessionAccept(session=info.id))

    # -- one request ------------------------------------------------------------------------------

    async def _request(self, message: ActionRequest) -> None:
        body = message.body
        info = self.session
        if info is None or info.state is not SessionState.ACTIVE or message.session != info.id:
            await self.outbox.send(
                ConsentReply(
                    session=message.session,
                    body=ConsentReplyBody(
                        action_id=body.action_id, decision="refused", reason="no active session"
                    ),
                )
            )
            return
        if body.action_id in self.actions:
            return  # a replayed id: the first request stands, the copy is ignored
        record = ActionRecord(body.action_id, info.id, _both(body, describe))
        self.actions[record.id] = record
        title = record.title()
        shown = record.described[self.lang]
        self.feed.add("request", texts.REQUEST, detail=shown.verbatim, title=title)
        refusal = self._policy(body.action)
        if refusal is not None:
            self.feed.add("consent", refusal, title=title)
            await self._send_action(
                record,
                ConsentReply(
                    session=info.id,
                    body=ConsentReplyBody(
                        action_id=record.id,
                        decision="refused",
                        reason=refusal.en.split("—")[-1].strip()[:200],
                    ),
                ),
                "consent.reply:refused",
            )
            return
        timeout = self.config.consent_timeout
        await self._send_action(
            record,
            ConsentRequest(session=info.id, body=ConsentRequestBody(action_id=record.id, timeout_s=timeout)),
            "consent.request",
        )
        content = {
            "action_id": record.id,
            "zh-CN": record.described["zh-CN"].to_json(),
            "en": record.described["en"].to_json(),
        }
        prompt = self.prompts.ask("action", content, timeout)
        decision = await prompt.wait()
        self.prompts.settle(prompt)
        if not self._live(record):
            return  # the kill switch got here first; the session end cancels the action
        await self._decide(record, decision)
        if decision == "allowed":
            record.task = asyncio.current_task()
            await self._execute(record, body.action)

    def _policy(self, action: Any) -> Text | None:
        """The agent's own refusals, before the user is bothered: vault paths, impossible pushes."""
        if isinstance(action, CommandParams) and self._touches_vault(action.command):
            return texts.REFUSED_VAULT
        if isinstance(action, PushFileParams):
            target = self.inbox.directory / sanitize_name(action.name)
            if self._touches_vault(str(target)):
                return texts.REFUSED_VAULT
            try:
                self.inbox.check(action.size)
            except (InboxError, OSError) as exc:
                why = exc.code if isinstance(exc, InboxError) else str(exc)
                return Text(
                    texts.REFUSED_INBOX.zh.replace("{why}", why), texts.REFUSED_INBOX.en.replace("{why}", why)
                )
        return None

    def _touches_vault(self, text: str) -> bool:
        if self.vault is None:
            return False
        try:
            return self.vault.request_touches_vault(text, cwd=Path.home())
        except (VaultError, OSError):
            return True  # cannot tell: the vault wins

    async def _decide(self, record: ActionRecord, decision: Decision) -> None:
        text = {
            "allowed": texts.ALLOWED,
            "denied": texts.DENIED,
            "timed_out": texts.TIMED_OUT,
            "refused": texts.KILLED,
        }[decision]
        self.feed.add("consent", text, title=record.title())
        reply = ConsentReply(
            session=record.session, body=ConsentReplyBody(action_id=record.id, decision=decision)
        )
        await self._send_action(record, reply, f"consent.reply:{decision}")

    async def _execute(self, record: ActionRecord, action: Any) -> None:
        outcome: ActionOutcome | None = None
        error: str | None = None
        status: Literal["ok", "failed", "cancelled"] = "ok"
        try:
            outcome, error = await self._run(record, action)
            if error is not None:
                status = "failed"
        except asyncio.CancelledError:
            status, error = "cancelled", "the session ended"
            if not self._live(record):
                return
        except (InboxError, RepairError, OSError, ValueError) as exc:
            status, error = "failed", str(exc)[:250]
        finally:
            if record.pending_file is not None and not record.pending_file.done:
                record.pending_file.abort()
        if not self._live(record):
            return
        title = record.title()
        if status == "ok":
            self.feed.add("result", texts.DONE, title=title)
        else:
            self.feed.add("result", texts.FAILED, title=title, why=error or status)
        result = ActionResult(
            session=record.session,
            body=ActionResultBody(action_id=record.id, status=status, outcome=outcome, error=error),
        )
        await self._send_action(record, result, f"action.result:{status}")

    async def _run(self, record: ActionRecord, action: Any) -> tuple[ActionOutcome | None, str | None]:
        cfg = self.config
        if isinstance(action, DiagnoseParams):
            outcome = await diagnose_action(self.lang, action.interface, cfg.config_file, cfg.data_dir)
            self.feed.add("result", texts.DIAGNOSIS_DONE, verdict=outcome.report.verdict)
            return outcome, None
        if isinstance(action, RepairParams):
            repaired = await repair_action(
                action.repair,
                action.interface,
                self.lang,
                data_dir=cfg.data_dir,
                action_id=record.id,
                config_path=cfg.config_file,
            )
            state = texts.REPAIR_FIXED if repaired.fixed else texts.REPAIR_NOT_FIXED
            self.feed.add(
                "result",
                Text(
                    texts.REPAIR_DONE.zh.format(state=state.zh, title=record.title().zh),
                    texts.REPAIR_DONE.en.format(state=state.en, title=record.title().en),
                ),
            )
            return repaired, None
        if isinstance(action, CommandParams):
            return await self._run_command(record, action)
        assert isinstance(action, PushFileParams)
        return await self._receive(record, action)

    async def _run_command(
        self, record: ActionRecord, action: CommandParams
    ) -> tuple[ActionOutcome, str | None]:
        running = await start_command(action.command, cwd=Path.home())
        record.running = running
        self.ledger.add(running.pid)
        if not self._live(record):
            running.kill()
        await self._send_action(
            record,
            ActionProgress(
                session=record.session, body=ActionProgressBody(action_id=record.id, note="started")
            ),
            "action.progress",
        )
        try:
            outcome = await finish_command(running, action.timeout_s)
        finally:
            self.ledger.remove(running.pid)
        record.running = None
        if outcome.exit_code is None and self._live(record):
            self.feed.add("result", texts.COMMAND_TIMEOUT)
            return outcome, "timed out"
        self.feed.add(
            "result",
            texts.COMMAND_EXIT,
            detail=outcome.output[-2000:] or None,
            code=outcome.exit_code,
            ms=outcome.duration_ms,
        )
        return outcome, None

    async def _receive(
        self, record: ActionRecord, action: PushFileParams
    ) -> tuple[ActionOutcome, str | None]:
        pending = self.inbox.begin(record.id, action.name, action.size, action.sha256)
        record.pending_file = pending
        record.file_done = asyncio.get_running_loop().create_future()
        record.last_chunk = time.monotonic()
        await self._send_action(
            record,
            ActionProgress(
                session=record.session,
                body=ActionProgressBody(action_id=record.id, done=0, total=action.size),
            ),
            "action.progress",
        )
        idle_limit = self.config.push_idle_timeout
        while True:
            idle = time.monotonic() - record.last_chunk
            try:
                async with asyncio.timeout(max(0.1, idle_limit - idle)):
                    name = await asyncio.shield(record.file_done)
                break
            except TimeoutError:
                if time.monotonic() - record.last_chunk >= idle_limit:
                    raise InboxError("stalled", f"no data for {idle_limit:.0f} s") from None
        self.feed.add("file", texts.FILE_SAVED, name=name, size=human_size(action.size))
        return PushFileOutcome(saved_as=name, size=action.size, sha256=action.sha256), None

    # -- the kill switch --------------------------------------------------------------------------

    async def end(
        self, reason: SessionEndReason = "ended_by_user", tell_server: bool = True, note: str | None = None
    ) -> EndSummary | None:
        """End the session now: refuse, kill, delete — locally first — then tell the server."""
        start = time.perf_counter()
        info = self.session
        if info is None or info.state not in (SessionState.OFFERED, SessionState.ACTIVE):
            return None
        was_active = info.state is SessionState.ACTIVE
        info.state = advance_session(info.state, "session.end")
        refused = self.prompts.refuse_all()
        killed = files = 0
        for record in self.actions.values():
            if record.session != info.id or record.state in FINAL_ACTION_STATES:
                continue
            if record.running is not None:
                killed += len(record.running.kill())
            if record.pending_file is not None and not record.pending_file.done:
                record.pending_file.abort()
                files += 1
            if record.file_done is not None and not record.file_done.done():
                record.file_done.cancel()
            with contextlib.suppress(ProtocolError):
                record.state = advance_action(record.state, "session.end")
            if record.task is not None and record.task is not asyncio.current_task():
                record.task.cancel()
        summary = EndSummary(refused, killed, files, (time.perf_counter() - start) * 1000)
        self.last_end = summary
        if reason == "ended_by_user":
            self.feed.add(
                "end",
                texts.END_BY_USER,
                refused=refused,
                killed=killed,
                files=files,
                ms=round(summary.elapsed_ms, 1),
            )
        else:
            self.feed.add("end", texts.END_BY_OTHER, why=reason)
        self.session = None
        if was_active:
            self._spawn(self._vault_end())
        report: asyncio.Task[Any] | None = None
        if tell_server:
            item = UnreportedEnd(info.id, reason, now_ms(), note)
            report = self._spawn(self._report_end(item))
        if was_active:
            self.last_ended = info.id
        # Ask "How did it go?" about every session that ran (a lost connection clears it: see below).
        if was_active and reason != "declined" and info.id not in self.rated:
            self.rating = RatingOffer(info.id, info.engineer, reason, report)
        return summary

    async def _vault_end(self) -> None:
        if self.vault is None:
            return
        try:
            await asyncio.to_thread(self.vault.end_session)
        except (VaultError, OSError):
            return
        self.feed.add("session", texts.VAULT_UNLOCKED)

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
            if self.session is not None and self.session.id == item.session:
                continue
            if await self.outbox.deliver(self._end_message(item)):
                await asyncio.to_thread(self.unreported.remove, item.session)
                self.feed.add("end", texts.REPORTED_LATER, session=item.session)

    async def connection_lost(self) -> None:
        """No server, no engineer: a session cannot go on unobserved by the relay. End it locally."""
        if self.session is not None:
            await self.end("connection_lost", tell_server=False)
        # The server takes a rating only on the connection that saw the end: that one is gone.
        self.rating = None
        self.feed.touch()

    # -- the satisfaction rating ------------------------------------------------------------------

    async def feedback(self, rating: object, comment: object = "") -> int:
        """Send the user's 1–5 rating of the last ended session; raises `FeedbackRefused` if not sent."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise FeedbackRefused("bad_rating", "the rating must be a whole number from 1 to 5")
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise FeedbackRefused("bad_rating", "the comment must be text")
        words = comment.strip()
        if len(words) > MAX_FEEDBACK_COMMENT:
            raise FeedbackRefused(
                "comment_too_long", f"the comment is longer than {MAX_FEEDBACK_COMMENT} characters"
            )
        offer = self.rating
        if offer is None:
            if self.last_ended is not None and self.last_ended in self.rated:
                raise FeedbackRefused("already_rated", "this session was already rated or dismissed")
            raise FeedbackRefused("no_session", "there is no ended session to rate")
        self.rating = None  # one rating per session, even if two clicks race
        if offer.end_report is not None and not offer.end_report.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(offer.end_report), END_REPORT_WAIT_S)
        message = Feedback(session=offer.session, body=FeedbackBody(rating=rating, comment=words))
        if not await self.outbox.deliver(message):
            # The server takes a rating only on the connection that saw the end, so it cannot go later.
            self.feed.add("feedback", texts.FEEDBACK_OFFLINE, rating=rating)
            raise FeedbackRefused("offline", "not connected to the server: the rating was not sent")
        self.rated.add(offer.session)
        self.feed.add("feedback", texts.FEEDBACK_SENT, detail=words or None, rating=rating)
        return rating

    def dismiss_feedback(self) -> bool:
        """The user said "No thanks": forget the question for this session; nothing is sent."""
        offer = self.rating
        if offer is None:
            return False
        self.rating = None
        self.rated.add(offer.session)
        self.feed.touch()
        return True

    async def close(self) -> None:
        """Closing the agent: the kill switch, then give the report a moment to leave."""
        await self.end("ended_by_user")
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=2.0)

    # -- for the panel ----------------------------------------------------------------------------

    def answer(self, prompt_id: str, allow: bool) -> bool:
        return self.prompts.answer(prompt_id, allow)

    def to_json(self) -> dict[str, Any]:
        info = self.session
        session = None
        if info is not None:
            session = {
                "id": info.id,
                "state": info.state.value,
                "ticket": info.ticket_id,
                "engineer": {"name": info.engineer.name, "id": info.engineer.id},
                "started": info.started,
            }
        actions = [
            {
                "id": r.id,
                "state": r.state.value,
                "zh-CN": r.described["zh-CN"].title,
                "en": r.described["en"].title,
            }
            for r in list(self.actions.values())[-50:]
        ]
        offer = self.rating
        rating = None
        if offer is not None:
            rating = {
                "session": offer.session,
                "engineer": {"name": offer.engineer.name, "id": offer.engineer.id},
                "reason": offer.reason,
                "max_comment": MAX_FEEDBACK_COMMENT,
            }
        return {
            "session": session,
            "prompts": self.prompts.to_json(),
            "actions": actions,
            "rating": rating,
        }
