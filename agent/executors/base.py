"""The one interface every action kind plugs into, and the job an executor works on.

An executor knows one action kind (`protocol.actions`): how to say it in plain words (`describe`),
whether the agent refuses it outright (`refusal`: facts such as vault paths or inbox space), how to do
it (`run`), and how to stop it *now* (`stop`, synchronous: the kill switch's < 200 ms). The session
book decides *whether* and *when*; the executor only does. It talks back through its `Job`: progress
to the engineer, lines to the user's feed, and `live()` to learn whether the session still wants it.

Exceptions an executor raises that mean "this action failed" (not "the agent is broken"): `ActionFailed`
and the OS's own `OSError`/`ValueError`; the guard turns them into a `failed` result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from agent.executors.described import Described
from agent.i18n import Lang, Text
from protocol.actions import ActionOutcome, ActionParams
from protocol.codec import FileChunk


class ActionFailed(Exception):
    """The action ran (or tried to) and failed; the message is the engineer's `error` (≤ 250 chars)."""


@dataclass(frozen=True)
class Done:
    """What `run` returns: the outcome for the engineer, and an error when it counts as failed."""

    outcome: ActionOutcome
    error: str | None = None


@dataclass(frozen=True)
class Stopped:
    """What `stop` did: processes killed, unfinished files deleted."""

    killed: int = 0
    files: int = 0


class Reporter(Protocol):
    """The guard, as a job sees it."""

    def progress(
        self, action_id: str, *, done: int | None = None, total: int | None = None, note: str | None = None
    ) -> None: ...

    def show(self, kind: str, template: Text, detail: str | None = None, **fields: object) -> None: ...

    def live(self, action_id: str) -> bool: ...


@dataclass
class Job:
    """One allowed action while its executor runs it."""

    action_id: str
    session: str
    params: ActionParams
    reporter: Reporter
    work: Any = None  # the executor's own handle: a running command, a file being received

    def progress(self, *, done: int | None = None, total: int | None = None, note: str | None = None) -> None:
        self.reporter.progress(self.action_id, done=done, total=total, note=note)

    def show(self, kind: str, template: Text, detail: str | None = None, **fields: object) -> None:
        self.reporter.show(kind, template, detail, **fields)

    def live(self) -> bool:
        return self.reporter.live(self.action_id)


class Executor(Protocol):
    kind: ClassVar[str]  # the `kind` of its `protocol.actions` params
    holds_output: ClassVar[bool]  # its result carries the user's data: released by the user only

    def describe(self, params: Any, reason: str, lang: Lang) -> Described: ...

    def refusal(self, params: Any) -> Text | None: ...

    async def run(self, job: Job) -> Done: ...

    def stop(self, job: Job) -> Stopped: ...

    def cleanup(self, job: Job) -> None: ...

    def receive(self, job: Job, chunk: FileChunk) -> None: ...

    def reject(self, job: Job, why: str) -> None: ...


class BaseExecutor:
    """Defaults for the optional parts: nothing to refuse, stop, clean up or receive."""

    kind: ClassVar[str] = ""
    holds_output: ClassVar[bool] = False

    def refusal(self, params: Any) -> Text | None:
        return None

    def stop(self, job: Job) -> Stopped:
        return Stopped()

    def cleanup(self, job: Job) -> None:
        return None

    def receive(self, job: Job, chunk: FileChunk) -> None:
        return None  # no bytes belong to this kind: dropped

    def reject(self, job: Job, why: str) -> None:
        return None


LangSource = Callable[[], Lang]
