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
    "diagnose",
    "repair",
    "command",
    "push_file",
    "service_item",
    "screen_view",
    "screen_control",
    "rescue_inventory",
    "rescue_copy",
    "rescue_fsck",
    "rescue_write_image",
    "rescue_boot_repair",
]
ACTION_KINDS: tuple[ActionKind, ...] = (
    "diagnose", "repair", "command", "push_file", "service_item", "screen_view", "screen_control",
    "rescue_inventory", "rescue_copy", "rescue_fsck", "rescue_write_image", "rescue_boot_repair",
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


DevicePath = Annotated[str, Field(min_length=6, max_length=64, pattern=r"^/dev/[A-Za-z0-9_/-]+$")]
RelativeFolder = Annotated[str, Field(min_length=1, max_length=MAX_FILE_NAME)]


class RescueInventoryParams(_Strict):
    """Rescue mode: list the disks, partitions, file systems, SMART health and installed systems."""

    kind: Literal["rescue_inventory"] = "rescue_inventory"


class RescueCopyParams(_Strict):
    """Rescue mode, data rescue: copy folders of `source` (a partition) onto the user's USB disk
    `target`, on the PC itself. Nothing of the files travels to the engineer (see RescueCopyOutcome)."""

    kind: Literal["rescue_copy"] = "rescue_copy"
    source: DevicePath
    folders: Annotated[list[RelativeFolder], Field(min_length=1, max_length=32)]
    target: DevicePath


class RescueFsckParams(_Strict):
    """Rescue mode: check a file system (read-only), or repair it when `repair` is set."""

    kind: Literal["rescue_fsck"] = "rescue_fsck"
    device: DevicePath
    repair: bool = False


class RescueWriteImageParams(_Strict):
    """Rescue mode: write an operating-system image the engineer pushed into the inbox (`image`, the name
    the push reported as `saved_as`; `sha256` of the file as pushed) onto the whole disk `disk`. The user
    allows it, then types the disk's name on the rescue screen; nothing is read from the disk for the
    engineer (see RescueWriteImageOutcome)."""

    kind: Literal["rescue_write_image"] = "rescue_write_image"
    image: Annotated[str, Field(min_length=1, max_length=MAX_FILE_NAME)]
    sha256: Sha256Hex
    disk: DevicePath


class RescueBootRepairParams(_Strict):
    """Rescue mode: make an installed Linux start again — GRUB reinstalled on `disk` (BIOS; UEFI when the
    disk has an EFI system partition) and its boot menu regenerated, with that system's own tools.
    `root`: its root partition, when the disk holds more than one Linux."""

    kind: Literal["rescue_boot_repair"] = "rescue_boot_repair"
    disk: DevicePath
    root: DevicePath | None = None


ActionParams = Annotated[
    DiagnoseParams
    | RepairParams
    | CommandParams
    | PushFileParams
    | ServiceItemParams
    | ScreenViewParams
    | ScreenControlParams
    | RescueInventoryParams
    | RescueCopyParams
    | RescueFsckParams
    | RescueWriteImageParams
    | RescueBootRepairParams,
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


class RescuePartition(_Strict):
    device: DevicePath
    size: Annotated[int, Field(ge=0)]
    fstype: ShortText | None = None
    label: ShortText | None = None
    os: ShortText | None = None  # the operating system installed there, if any


class RescueDisk(_Strict):
    device: DevicePath
    size: Annotated[int, Field(ge=0)]
    model: ShortText | None = None
    removable: bool = False
    smart: ShortText | None = None  # "PASSED", "FAILED", or None when the disk has no SMART
    partitions: Annotated[list[RescuePartition], Field(max_length=128)] = []


class RescueInventoryOutcome(_Strict):
    """Disk metadata only: devices, sizes, file-system types, labels, SMART, system names — no file names."""

    kind: Literal["rescue_inventory"] = "rescue_inventory"
    disks: Annotated[list[RescueDisk], Field(max_length=64)]


class RescueCopyOutcome(_Strict):
    """Counts only: the files stay on the PC, their names and contents never reach the engineer."""

    kind: Literal["rescue_copy"] = "rescue_copy"
    files: Annotated[int, Field(ge=0)]
    bytes: Annotated[int, Field(ge=0)]
    verified: Annotated[int, Field(ge=0)]
    failed: Annotated[int, Field(ge=0)]
    folder: Annotated[str, Field(max_length=MAX_FILE_NAME)]  # the folder made on the USB disk


class RescueFsckOutcome(_Strict):
    """The checker's verdict only (its output can name the user's files: it stays on the rescue screen)."""

    kind: Literal["rescue_fsck"] = "rescue_fsck"
    device: DevicePath
    fstype: ShortText | None = None
    exit_code: int
    clean: bool  # no error found (check) or none left (repair)
    repaired: bool = False


class RescueWriteImageOutcome(_Strict):
    """The verdict and sizes only: whether the user typed the disk's name, how much was written, whether
    the read-back matched. Nothing of the disk's contents."""

    kind: Literal["rescue_write_image"] = "rescue_write_image"
    disk: DevicePath
    confirmed: bool  # the user typed the disk's name (False: cancelled, nothing written)
    image_bytes: Annotated[int, Field(ge=0)]  # decompressed size: what goes on the disk
    disk_bytes: Annotated[int, Field(ge=0)]
    written: Annotated[int, Field(ge=0)] = 0
    verified: bool = False  # read back from the disk, SHA-256 equal to what was written


class RescueBootRepairOutcome(_Strict):
    """What was repaired and how: the system found, which GRUB went where, the commands run (device
    paths and options only; their output stays on the rescue screen)."""

    kind: Literal["rescue_boot_repair"] = "rescue_boot_repair"
    disk: DevicePath
    root: DevicePath
    system: ShortText | None = None
    bios: bool  # GRUB's boot code and core image written for BIOS
    efi: bool  # GRUB written as the ESP's fallback loader EFI/BOOT/BOOTX64.EFI
    menu: bool  # grub.cfg regenerated
    commands: Annotated[list[ShortText], Field(max_length=8)] = []
    # The folder (in the repaired system) holding the old boot code: composed by the agent from the
    # time, so it carries nothing of the PC's (the pattern keeps it that way).
    backup: Annotated[str, Field(max_length=40, pattern=r"^/boot/rme-rescue-backup/\d{8}-\d{6}$")] | None = (
        None
    )


ActionOutcome = Annotated[
    DiagnoseOutcome
    | RepairOutcome
    | CommandOutcome
    | PushFileOutcome
    | ServiceItemOutcome
    | ScreenOutcome
    | RescueInventoryOutcome
    | RescueCopyOutcome
    | RescueFsckOutcome
    | RescueWriteImageOutcome
    | RescueBootRepairOutcome,
    Field(discriminator="kind"),
]
