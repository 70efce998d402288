"""The direction table keeps the one-way promise: nothing carries the user's files out."""

import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from protocol import CHUNK, DIRECTION_TABLE, MESSAGE_TYPES, Peer, is_allowed, relay_target
from protocol.actions import ACTION_KINDS, STREAM_KINDS
from protocol.directions import SCREEN
from protocol.limits import MAX_COMMAND_OUTPUT, MAX_SUMMARY_TEXT, MAX_USER_WORDS
from tests.protocol.vectors import load

AGENT_SENDS = sorted(t for t, hops in DIRECTION_TABLE.items() if (Peer.AGENT, Peer.SERVER) in hops)
ENGINEER_RECEIVES = sorted(t for t, hops in DIRECTION_TABLE.items() if (Peer.SERVER, Peer.ENGINEER) in hops)
# The only free text the agent sends that can exceed a summary: command output the user consented to
# (capped at 64 KiB), the user's own words, and chat the user typed.
LONG_TEXT_ALLOWED = {("CommandOutcome", "output"), ("HelpRequestBody", "words"), ("ChatBody", "text")}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model reachable from a type annotation."""
    found: list[type[BaseModel]] = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found.append(item)
            stack.extend(f.annotation for f in item.model_fields.values())
            continue
        stack.extend(typing.get_args(item))
        if isinstance(item, types.UnionType):
            stack.extend(item.__args__)
    return found


def _leaf_fields(model: type[BaseModel]) -> list[tuple[str, str, Any]]:
    fields = []
    for sub in _models_in(model):
        for name, info in sub.model_fields.items():
            fields.append((sub.__name__, name, info))
    return fields


def test_every_message_type_has_a_direction_rule_and_vice_versa() -> None:
    assert set(DIRECTION_TABLE) == set(MESSAGE_TYPES) | {CHUNK, SCREEN}
    assert load("directions.json")["table"] == {
        t: sorted(f"{s}->{r}" for s, r in hops) for t, hops in DIRECTION_TABLE.items()
    }


def test_file_chunks_only_flow_towards_the_agent() -> None:
    assert DIRECTION_TABLE[CHUNK] == {(Peer.ENGINEER, Peer.SERVER), (Peer.SERVER, Peer.AGENT)}
    assert not is_allowed(CHUNK, Peer.AGENT, Peer.SERVER)
    assert not is_allowed(CHUNK, Peer.SERVER, Peer.ENGINEER)
    assert relay_target(CHUNK, Peer.AGENT) is None


def test_no_agent_message_has_a_binary_or_unbounded_field() -> None:
    for msg_type in AGENT_SENDS:
        if msg_type == SCREEN:
            continue  # binary pixels, its format is pinned in the screen test below
        for owner, name, info in _leaf_fields(MESSAGE_TYPES[msg_type]):
            if (owner, name) == ("Finding", "evidence"):
                continue  # free-form facts, bounded in size and depth: see the test below
            assert bytes not in _types_in(info.annotation), f"{msg_type}: {owner}.{name} carries bytes"
            if str in _types_in(info.annotation):
                limit = _max_length(info)
                assert limit is not None, f"{msg_type}: {owner}.{name} is an unbounded string"
                if (owner, name) not in LONG_TEXT_ALLOWED:
                    assert limit <= MAX_SUMMARY_TEXT, f"{msg_type}: {owner}.{name} allows {limit} chars"
                else:
                    assert limit <= max(MAX_COMMAND_OUTPUT, MAX_USER_WORDS)


def test_finding_evidence_cannot_carry_more_than_a_few_facts() -> None:
    from pydantic import JsonValue, ValidationError

    from protocol.limits import MAX_EVIDENCE_CHARS
    from protocol.report import Finding

    Finding(check="dns", status="ok", summary="", evidence={"servers": ["1.1.1.1"], "ms": 12})
    oversized: list[dict[str, JsonValue]] = [{"blob": "x" * MAX_EVIDENCE_CHARS}, {"a": [[[[["deep"]]]]]}]
    for evidence in oversized:
        try:
            Finding(check="dns", status="ok", summary="", evidence=evidence)
        except ValidationError:
            continue
        raise AssertionError(f"evidence accepted: {str(evidence)[:40]}")


def test_no_message_type_or_action_kind_reads_files() -> None:
    suspicious = ("file.", "download", "upload", "list", "read", "fetch", "get_file", "dir")
    for name in [*DIRECTION_TABLE, *ACTION_KINDS]:
        assert not any(word in name for word in suspicious), name
    assert set(ACTION_KINDS) == {
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
    }
    assert {"screen_view", "screen_control"} == STREAM_KINDS


def test_the_screen_stream_is_pixels_up_and_input_down_only() -> None:
    """The one binary type that flows towards the engineer is the screen frame: its format holds only
    JPEG tiles with their places (`protocol.screen`); file chunks still flow only towards the user, and
    the engineer's screen input and stop flow only towards the agent."""
    assert DIRECTION_TABLE[SCREEN] == {(Peer.AGENT, Peer.SERVER), (Peer.SERVER, Peer.ENGINEER)}
    assert relay_target(SCREEN, Peer.AGENT) is Peer.ENGINEER
    assert relay_target(SCREEN, Peer.ENGINEER) is None
    for down in ("screen.input", "action.stop"):
        assert DIRECTION_TABLE[down] == {(Peer.ENGINEER, Peer.SERVER), (Peer.SERVER, Peer.AGENT)}
        assert relay_target(down, Peer.AGENT) is None
    from protocol.screen import ScreenFrame, Tile

    assert [f for f in ScreenFrame.__dataclass_fields__] == [
        "action_id",
        "seq",
        "width",
        "height",
        "tiles",
        "key",
    ]
    assert [f for f in Tile.__dataclass_fields__] == ["x", "y", "w", "h", "jpeg"]


def test_data_rescue_tells_the_engineer_counts_only() -> None:
    """The rescue kinds copy the user's files to the user's own USB disk: what comes back is counts and
    disk metadata, never a file's name or contents."""
    from protocol.actions import RescueCopyOutcome, RescueInventoryOutcome, RescuePartition

    assert set(RescueCopyOutcome.model_fields) == {"kind", "files", "bytes", "verified", "failed", "folder"}
    assert set(RescueInventoryOutcome.model_fields) == {"kind", "disks"}
    assert set(RescuePartition.model_fields) == {"device", "size", "fstype", "label", "os"}


def test_writing_an_image_tells_the_engineer_the_verdict_and_sizes_only() -> None:
    """`rescue_write_image` writes a file the engineer pushed onto a disk: nothing read from the disk
    (its partitions, labels, the installed system the user is shown) comes back."""
    from protocol.actions import RescueWriteImageOutcome

    assert set(RescueWriteImageOutcome.model_fields) == {
        "kind", "disk", "confirmed", "image_bytes", "disk_bytes", "written", "verified",
    }  # fmt: skip


def test_boot_repair_tells_the_engineer_what_ran_not_what_it_printed() -> None:
    """grub-install's and update-grub's output stays on the rescue screen: the outcome has no free text
    but the system's name and the command lines the agent itself composed from device paths."""
    from protocol.actions import RescueBootRepairOutcome

    assert set(RescueBootRepairOutcome.model_fields) == {
        "kind", "disk", "root", "system", "bios", "efi", "menu", "commands", "backup",
    }  # fmt: skip

    def outcome(backup: str) -> RescueBootRepairOutcome:
        return RescueBootRepairOutcome(
            disk="/dev/sda", root="/dev/sda1", bios=True, efi=False, menu=True, backup=backup
        )

    assert outcome("/boot/rme-rescue-backup/20261202-031500").backup
    with pytest.raises(ValueError):  # the backup's folder is a time, never a name from the PC
        outcome("/boot/rme-rescue-backup/zhang-diary.txt")


def test_what_reaches_the_engineer_from_the_agent_is_exactly_the_result_channel() -> None:
    from_agent = {t for t in AGENT_SENDS if relay_target(t, Peer.AGENT) is Peer.ENGINEER}
    assert from_agent == {
        "session.accept", "session.decline", "consent.request", "consent.reply",
        "action.progress", "action.result", "chat", "session.end", SCREEN,
    }  # fmt: skip
    assert from_agent <= set(ENGINEER_RECEIVES)


def test_engineer_cannot_speak_as_agent_or_to_agent_directly() -> None:
    for msg_type in DIRECTION_TABLE:
        assert not is_allowed(msg_type, Peer.ENGINEER, Peer.AGENT)
        assert not is_allowed(msg_type, Peer.AGENT, Peer.ENGINEER)
    for agent_only in ("auth.response", "enroll.request", "help.request", "consent.reply", "action.result"):
        assert not is_allowed(agent_only, Peer.ENGINEER, Peer.SERVER)
    for engineer_only in ("action.request", "ticket.accept"):
        assert not is_allowed(engineer_only, Peer.AGENT, Peer.SERVER)


def test_relay_target_only_forwards_along_the_table() -> None:
    for msg_type in DIRECTION_TABLE:
        for sender in (Peer.AGENT, Peer.ENGINEER):
            target = relay_target(msg_type, sender)
            if target is not None:
                assert is_allowed(msg_type, sender, Peer.SERVER)
                assert is_allowed(msg_type, Peer.SERVER, target)
                assert target is not sender


def _types_in(annotation: Any) -> set[Any]:
    seen: set[Any] = set()
    stack = [annotation]
    while stack:
        item = stack.pop()
        origin = typing.get_origin(item)
        if origin is typing.Annotated:
            stack.append(typing.get_args(item)[0])
            continue
        args = typing.get_args(item)
        if args:
            stack.extend(args)
            if origin is not None:
                seen.add(origin)
            continue
        seen.add(item)
    return seen


def _max_length(info: Any) -> int | None:
    limits = [m.max_length for m in info.metadata if getattr(m, "max_length", None) is not None]
    for arg in _annotated_metadata(info.annotation):
        if getattr(arg, "max_length", None) is not None:
            limits.append(arg.max_length)
    return min(limits) if limits else None


def _annotated_metadata(annotation: Any) -> list[Any]:
    out: list[Any] = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        if typing.get_origin(item) is typing.Annotated:
            args = typing.get_args(item)
            out.extend(args[1:])
            stack.append(args[0])
        else:
            stack.extend(typing.get_args(item))
    for meta in list(out):
        out.extend(getattr(meta, "metadata", []))
    return out
