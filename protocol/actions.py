"""What an engineer may ask the agent to do, and what comes back. Nothing else exists.

There is deliberately no kind that reads, lists or downloads the user's files: the one-way promise is
kept by this catalogue having no such entry (see `tests/protocol/test_directions.py`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.limits import (
    MAX_ACTION_TIMEOUT_S,
    MAX_COMMAND_OUTPUT,
    MAX_COMMAND_TEXT,
    MAX_FILE_NAME,
    MAX_FILE_SIZE,
    MAX_SHORT_TEXT,
)
from protocol.report import Code, DiagnosisReport

ShortText = Annotated[str, Field(max_length=MAX_SHORT_TEXT)]
Sha256Hex = Annotated[str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]

ActionKind = Literal[
    "diagnose", "repair", "command", "push_file", "service_item", "screen_view", "screen_control"
]
ACTION_KINDS: tuple[ActionKind, ...] = (
    "diagnose", "repair", "command", "push_file", "service_item", "screen_view", "screen_control",
)  # fmt: skip
# Kinds that stay on until stopped (the user, the engineer or the end); see `protocol.lifecycle`.
STREAM_KINDS: frozenset[str] = frozenset({"screen_view", "screen_control"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiagnoseParams(_Strict):
    kind: Literal["diagnose"] = "diagnose"
    interface: ShortText | None = None


class RepairParams(_Strict):
    kind: Literal["repair"] = "repair"
    repair: Code
    interface: ShortText | None = None


class CommandParams(_Strict):
    """A command line, shown to the user verbatim before consent."""

    kind: Literal["command"] = "command"
    command: Annotated[str, Field(min_length=1, max_length=MAX_COMMAND_TEXT)]
    timeout_s: Annotated[int, Field(ge=1, le=MAX_ACTION_TIMEOUT_S)] = 60


class PushFileParams(_Strict):
    """A file the engineer sends; its bytes follow as binary chunk frames after the user allows it."""

    kind: Literal["push_file"] = "push_file"
    name: Annotated[str, Field(min_length=1, max_length=MAX_FILE_NAME)]
    size: Annotated[int, Field(ge=0, le=MAX_FILE_SIZE)]
    sha256: Sha256Hex


class ServiceItemParams(_Strict):
    """Change the session's service item (the catalogue's code): the user sees its price and consents."""

    kind: Literal["service_item"] = "service_item"
    item: Code


class ScreenViewParams(_Strict):
    """See the user's screen (one monitor, the engineer's pick) until stopped. Pixels only."""

    kind: Literal["screen_view"] = "screen_view"
    monitor: Annotated[int, Field(ge=0, le=15)] = 0


class ScreenControlParams(_Strict):
    """Move the user's mouse and type on their keyboard, inside the running view `view`."""

    kind: Literal["screen_control"] = "screen_control"
    view: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


ActionParams = Annotated[
    DiagnoseParams
    | RepairParams
    | CommandParams
    | PushFileParams
    | ServiceItemParams
    | ScreenViewParams
    | ScreenControlParams,
    Field(discriminator="kind"),
]


class DiagnoseOutcome(_Strict):
    kind: Literal["diagnose"] = "diagnose"
    report: DiagnosisReport


class RepairOutcome(_Strict):
    """Detect → resolve → verify: the root cause before and after the repair."""

    kind: Literal["repair"] = "repair"
    repair: Code
    applied: bool
    fixed: bool
    root_cause_before: Code | None = None
    root_cause_after: Code | None = None


class CommandOutcome(_Strict):
    """The command's combined output, capped at MAX_COMMAND_OUTPUT characters, as the user released it.

    `withheld`: the user read the output and kept it on the PC; `output` is then empty (the engineer
    learns the exit code and that there was output, nothing of its content).
    """

    kind: Literal["command"] = "command"
    exit_code: int | None
    output: Annotated[str, Field(max_length=MAX_COMMAND_OUTPUT)]
    truncated: bool = False
    duration_ms: Annotated[int, Field(ge=0)]
    withheld: bool = False


class PushFileOutcome(_Strict):
    """Where the pushed file landed: only the sanitised name inside the inbox, never a path or a listing."""

    kind: Literal["push_file"] = "push_file"
    saved_as: Annotated[str, Field(min_length=1, max_length=MAX_FILE_NAME)]
    size: Annotated[int, Field(ge=0, le=MAX_FILE_SIZE)]
    sha256: Sha256Hex


class ServiceItemOutcome(_Strict):
    """The item the user agreed to; the server puts it on the ticket."""

    kind: Literal["service_item"] = "service_item"
    item: Code


class ScreenOutcome(_Strict):
    """How a view or control ended: how long it ran and who stopped it. No pixels, ever."""

    kind: Literal["screen"] = "screen"
    duration_ms: Annotated[int, Field(ge=0)]
    stopped_by: Literal["user", "engineer", "view_ended", "indicator_closed", "error"]
    frames: Annotated[int, Field(ge=0)] = 0


ActionOutcome = Annotated[
    DiagnoseOutcome | RepairOutcome | CommandOutcome | PushFileOutcome | ServiceItemOutcome | ScreenOutcome,
    Field(discriminator="kind"),
]
