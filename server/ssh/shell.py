"""What each prompt command does, for the interactive prompt and for single commands (`ssh eng@server
rme queue --json`): `Shell.run(command)` asks the desk (`server.ssh.desk`) and writes the answer through
`write` — words in the account's language, or one JSON document with `--json`.

Interactive requests return at once and their live states are printed as they come (`describe_event`);
a single command waits for its action's end and prints the states on the way (unless `--json`).
Exit codes for scripts: 0 done, 1 refused/denied/failed, 2 not a command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from protocol.actions import (
    ActionParams,
    CommandOutcome,
    CommandParams,
    DiagnoseOutcome,
    DiagnoseParams,
    PushFileOutcome,
    PushFileParams,
    RepairOutcome,
    RepairParams,
    RescueWriteImageOutcome,
    RescueWriteImageParams,
)
from protocol.repairs import CATALOGUE
from server.ssh.desk import ActionView, Desk, DeskError, Event, SessionView
from server.ssh.prompt import Command, clean, say, state_label

OK, FAILED, USAGE = 0, 1, 2
REPAIRS = {spec.id: spec for spec in CATALOGUE}


def what(lang: str, params: ActionParams) -> str:
    if isinstance(params, DiagnoseParams):
        return say(lang, "what_diagnose")
    if isinstance(params, RepairParams):
        return say(lang, "what_repair", repair=params.repair)
    if isinstance(params, CommandParams):
        return say(lang, "what_command", command=clean(params.command))
    if isinstance(params, PushFileParams):
        return say(lang, "what_push", name=clean(params.name))
    if isinstance(params, RescueWriteImageParams):
        return say(lang, "what_write_image", image=clean(params.image), disk=params.disk)
    # Kinds the prompt cannot start (screen view, service item) still show what they are.
    return say(lang, "what_other", kind=params.kind)


def describe_result(lang: str, action: ActionView) -> list[str]:
    """The lines that show a final action's result."""
    lines = [say(lang, "state", action=action.id[-6:], label=state_label(lang, action.state))]
    if action.reason:
        lines.append("  " + say(lang, "res_error", error=clean(action.reason)))
    body = action.result
    outcome = body.outcome if body is not None else None
    if isinstance(outcome, CommandOutcome):
        lines.append("  " + say(lang, "res_command", code=outcome.exit_code, ms=outcome.duration_ms))
        if outcome.withheld:
            lines.append("  " + say(lang, "res_withheld"))
        elif outcome.output:
            lines.append(clean(outcome.output.rstrip("\n")))
        if outcome.truncated:
            lines.append("  " + say(lang, "res_truncated"))
    elif isinstance(outcome, DiagnoseOutcome):
        report = outcome.report
        lines.append("  " + say(lang, "res_diagnose", verdict=report.verdict, cause=report.root_cause or "-"))
        for finding in report.findings:
            if finding.status != "ok":
                repair = f" → repair {finding.repair}" if finding.repair else ""
                lines.append(f"  [{finding.status}] {finding.check}: {clean(finding.summary)}{repair}")
    elif isinstance(outcome, RepairOutcome):
        lines.append(
            "  "
            + say(
                lang,
                "res_repair",
                repair=outcome.repair,
                applied=outcome.applied,
                fixed=outcome.fixed,
                before=outcome.root_cause_before or "-",
                after=outcome.root_cause_after or "-",
            )
        )
    elif isinstance(outcome, RescueWriteImageOutcome):
        lines.append(
            "  "
            + say(
                lang,
                "res_write_image",
                disk=outcome.disk,
                confirmed=outcome.confirmed,
                written=outcome.written,
                size=outcome.image_bytes,
                verified=outcome.verified,
            )
        )
    elif isinstance(outcome, PushFileOutcome):
        lines.append(
            "  " + say(lang, "res_push", name=clean(outcome.saved_as), size=outcome.size, sha=outcome.sha256)
        )
    return lines


def describe_event(lang: str, event: Event) -> list[str]:
    """What the interactive prompt prints for one thing that happened."""
    kind, session, detail = event
    if kind == "chat":
        return [say(lang, "chat_from_user", text=clean(str(detail)))]
    if kind == "session" and isinstance(detail, SessionView):
        if detail.state == "active":
            return [say(lang, "session_active", session=session)]
        if detail.state == "ended":
            return [say(lang, "session_ended", session=session, reason=detail.end_reason)]
        return []
    if kind == "action" and isinstance(detail, ActionView):
        if detail.final:
            return describe_result(lang, detail)
        label = state_label(lang, detail.state)
        if detail.progress:
            label += f" ({clean(detail.progress)})"
        return [say(lang, "state", action=detail.id[-6:], label=label)]
    if kind == "error":
        message = getattr(detail, "message", str(detail))
        return [say(lang, "error", message=clean(str(message)))]
    return []


def action_json(action: ActionView) -> dict[str, Any]:
    return {
        "action": action.id,
        "session": action.session,
        "kind": action.params.kind,
        "state": action.state,
        "reason": action.reason,
        "result": action.result.model_dump(mode="json") if action.result else None,
    }


class Shell:
    """Runs commands for one SSH login (`fingerprint`: its key's, for the audit)."""

    def __init__(
        self,
        desk: Desk,
        lang: str,
        fingerprint: str,
        write: Callable[[str], None],
        *,
        interactive: bool,
    ) -> None:
        self.desk = desk
        self.fingerprint = fingerprint
        self.username = desk.engineer.username
        self.lang = lang
        self.write = write
        self.interactive = interactive
        self.current: str | None = None
        self.listed: list[str] = []  # ticket ids as last listed (`accept 2`)

    def say(self, key: str, **fields: object) -> None:
        self.write(say(self.lang, key, **fields))

    def emit_json(self, doc: object) -> None:
        self.write(json.dumps(doc, ensure_ascii=False, sort_keys=True))

    # -- the session a command is for ---------------------------------------------------------------

    def active_sessions(self) -> list[SessionView]:
        return [v for v in self.desk.sessions.values() if v.state == "active"]

    def pick_session(self, command: Command) -> str:
        named = command.flags.get("--session")
        if named:
            view = self.desk.sessions.get(named)
            if view is None or view.state == "ended":
                raise DeskError("session.unknown", say(self.lang, "no_such_session", session=named))
            return named
        current = self.desk.sessions.get(self.current or "")
        if current is not None and current.state == "active":
            return current.id
        active = self.active_sessions()
        if len(active) == 1:
            return active[0].id
        raise DeskError("session.none", say(self.lang, "need_session"))

    # -- commands -------------------------------------------------------------------------------------

    async def run(self, command: Command) -> int:
        try:
            handler = getattr(self, f"_{command.verb}")
            code: int = await handler(command)
            return code
        except ConnectionError:
            return self._failed(command, DeskError("desk.closed", "the connection to the relay is closed"))
        except DeskError as exc:
            return self._failed(command, exc)

    def _failed(self, command: Command, exc: DeskError) -> int:
        if command.json:
            self.emit_json({"error": exc.code, "message": exc.message})
        else:
            self.say("error", message=clean(exc.message or exc.code))
        return FAILED

    async def _help(self, command: Command) -> int:
        self.write(say(self.lang, "help", user=self.username))
        return OK

    async def _whoami(self, command: Command) -> int:
        engineer = self.desk.engineer
        doc = {"username": engineer.username, "name": engineer.display_name, "role": engineer.role.label}
        if command.json:
            self.emit_json(doc)
        else:
            self.write(f"{engineer.username} ({clean(engineer.display_name)}, {engineer.role.label})")
        return OK

    async def _queue(self, command: Command) -> int:
        waiting = sorted(self.desk.queue.values(), key=lambda t: t.created_ms)
        if command.json:
            self.emit_json([t.model_dump(mode="json") for t in waiting])
            return OK
        self.listed = [t.ticket_id for t in waiting]
        if not waiting:
            self.say("queue_empty")
        for n, t in enumerate(waiting, 1):
            cause = f"  [{t.root_cause}]" if t.root_cause else ""
            self.say(
                "queue_line",
                n=n,
                ticket=t.ticket_id,
                state=t.state,
                customer=clean(t.customer_name),
                words=clean(t.words[:80]),
                cause=cause,
            )
        return OK

    async def _accept(self, command: Command) -> int:
        which = command.args[0]
        if which.isdigit() and 1 <= int(which) <= len(self.listed):
            which = self.listed[int(which) - 1]
        if which not in self.desk.queue:
            raise DeskError("ticket.unavailable", say(self.lang, "no_such_ticket", ticket=which))
        if not command.json:
            self.say("accepting", ticket=which)
        view = await self.desk.accept(which, self.fingerprint)
        self.current = view.id
        if command.json:
            self.emit_json({"ticket": which, "session": view.id, "state": view.state})
        else:
            self.say("session_active", session=view.id)
        return OK

    async def _sessions(self, command: Command) -> int:
        views = [v for v in self.desk.sessions.values() if v.state != "ended"]
        if command.json:
            self.emit_json([{"session": v.id, "ticket": v.ticket, "state": v.state} for v in views])
            return OK
        if not views:
            self.say("no_sessions")
        for v in views:
            mark = "*" if v.id == self.current else " "
            self.say("session_line", mark=mark, session=v.id, ticket=v.ticket, state=v.state)
        return OK

    async def _use(self, command: Command) -> int:
        view = self.desk.sessions.get(command.args[0])
        if view is None or view.state == "ended":
            raise DeskError("session.unknown", say(self.lang, "no_such_session", session=command.args[0]))
        self.current = view.id
        self.say("current", session=view.id)
        return OK

    async def _repairs(self, command: Command) -> int:
        if command.json:
            self.emit_json([spec.describe("zh-CN" if self.lang == "zh-CN" else "en") for spec in CATALOGUE])
            return OK
        for spec in CATALOGUE:
            self.say("repair_line", id=spec.id, title=spec.title.render(self.lang), risk=spec.risk)
        return OK

    async def _diagnose(self, command: Command) -> int:
        return await self._act(command, DiagnoseParams(interface=command.flags.get("--interface")))

    async def _repair(self, command: Command) -> int:
        repair = command.args[0]
        if repair not in REPAIRS:
            raise DeskError("repair.unknown", say(self.lang, "no_such_repair", repair=repair))
        return await self._act(
            command, RepairParams(repair=repair, interface=command.flags.get("--interface"))
        )

    async def _run(self, command: Command) -> int:
        timeout = int(command.flags.get("--timeout", "60"))
        try:
            params = CommandParams(command=command.text, timeout_s=timeout)
        except ValueError as exc:
            raise DeskError("command.invalid", str(exc).splitlines()[0]) from None
        return await self._act(command, params)

    async def _act(self, command: Command, params: ActionParams) -> int:
        session = self.pick_session(command)
        action = await self.desk.request(
            session, params, self.fingerprint, command.flags.get("--reason", "via ssh")
        )
        if self.interactive or "--no-wait" in command.flags:
            if command.json:
                self.emit_json(action_json(action))
            else:
                self.say("requested", action=action.id[-6:], what=what(self.lang, params))
            return OK
        return await self.follow(action, command.json)

    async def follow(self, action: ActionView, as_json: bool) -> int:
        """Wait for `action` to end, printing its states on the way (a single command)."""
        if not as_json:
            self.say("requested", action=action.id[-6:], what=what(self.lang, action.params))
        seen = [action.state]
        while not action.final and not self.desk.closed:
            await self.desk.wait_action(action, lambda a: a.state != seen[0] or a.final)
            if action.state != seen[0] and not action.final and not as_json:
                self.say("state", action=action.id[-6:], label=state_label(self.lang, action.state))
            seen[0] = action.state
        if as_json:
            self.emit_json(action_json(action))
        else:
            for line in describe_result(self.lang, action):
                self.write(line)
        return OK if action.state == "done" else FAILED

    async def _chat(self, command: Command) -> int:
        session = self.pick_session(command)
        await self.desk.chat(session, command.text[:4000], self.fingerprint)
        if command.json:
            self.emit_json({"ok": True})
        elif not self.interactive:
            self.say("chat_sent")
        return OK

    async def _end(self, command: Command) -> int:
        session = self.pick_session(command)
        reason = command.args[0] if command.args else "ended_by_engineer"
        await self.desk.end(session, reason, self.fingerprint, command.flags.get("--note"))
        if self.current == session:
            self.current = None
        if command.json:
            self.emit_json({"session": session, "state": "ended", "reason": reason})
        else:
            self.say("ended_by_you")
        return OK

    async def _quit(self, command: Command) -> int:
        return OK

    _exit = _quit
