"""The SSH prompt's sans-I/O core: parsing typed lines, the action state table, terminal safety, words."""

from __future__ import annotations

import pytest

from server.ssh.prompt import (
    ACTION_TRANSITIONS,
    FINAL_STATES,
    MAX_LINE,
    TEXTS,
    CommandError,
    advance,
    clean,
    parse,
    say,
)


def test_commands_and_flags() -> None:
    assert parse("") is None and parse("   ") is None
    command = parse("rme queue --json")
    assert command is not None and command.verb == "queue" and command.json
    accept = parse("accept 2")
    assert accept is not None and accept.args == ("2",)
    repair = parse("repair dns.flush_cache --interface eth0 --session s_1")
    assert repair is not None and repair.args == ("dns.flush_cache",)
    assert repair.flags == {"--interface": "eth0", "--session": "s_1"}
    end = parse("end resolved --note 'fixed the DNS'")
    assert end is not None and end.args == ("resolved",) and end.flags["--note"] == "fixed the DNS"


def test_free_text_keeps_the_command_line_as_typed() -> None:
    run = parse("""run --json --timeout 30 ipconfig /all | findstr "DNS" & echo 'x'""")
    assert run is not None and run.verb == "run"
    assert run.flags == {"--json": "", "--timeout": "30"}
    assert run.text == """ipconfig /all | findstr "DNS" & echo 'x'"""
    chat = parse("chat 请稍等，我看一下 --json")
    assert chat is not None and chat.text == "请稍等，我看一下 --json"  # a flag after the text is text


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("x" * (MAX_LINE + 1), "line_too_long"),
        ("queue\x1b[2J", "unreadable"),
        ("queue \ufffd\ufffd", "unreadable"),
        ("rm -rf /", "unknown"),
        ("queue --all", "unknown_flag"),
        ("accept", "needs_one"),
        ("accept 1 2", "needs_one"),
        ("run", "needs_text"),
        ("run --timeout", "flag_value"),
        ("run --timeout 0 ls", "timeout"),
        ("end maybe", "end_reason"),
        ("chat 'unbalanced", None),
        ("repair 'dns", "quotes"),
    ],
)
def test_bad_lines_are_refused_with_a_reason(line: str, key: str | None) -> None:
    if key is None:
        assert parse(line) is not None  # free text keeps its quotes as typed
        return
    with pytest.raises(CommandError) as caught:
        parse(line)
    assert caught.value.key == key
    assert say("en", key, **caught.value.fields) and say("zh-CN", key, **caught.value.fields)


def test_action_states_follow_the_table() -> None:
    state = "requested"
    for event in ("consent.request", "consent.reply:allowed", "action.progress", "action.result:ok"):
        after = advance(state, event)
        assert after is not None
        state = after
    assert state == "done"
    assert advance("requested", "action.result:ok") is None  # a result before consent is ignored
    assert advance("awaiting_consent", "consent.reply:denied") == "denied"
    assert advance("running", "session.end") == "cancelled"
    assert advance("done", "session.end") is None
    for (before, _), after in ACTION_TRANSITIONS.items():
        assert before not in FINAL_STATES and after


def test_text_from_the_pc_cannot_drive_the_terminal() -> None:
    assert clean("ok\x1b]0;pwned\x07\n\tnext\u202e") == "ok\\x1b]0;pwned\\x07\n\tnext\\u202e"


def test_every_text_exists_in_both_languages() -> None:
    for key, text in TEXTS.items():
        assert text.zh and text.en, key


def test_an_image_write_is_described_by_its_verdict_and_sizes() -> None:
    from protocol.actions import RescueWriteImageOutcome, RescueWriteImageParams
    from protocol.messages import ActionResultBody
    from server.ssh.desk import ActionView
    from server.ssh.shell import describe_result, what

    params = RescueWriteImageParams(image="debian.img.xz", sha256="a" * 64, disk="/dev/sda")
    assert what("en", params) == "write the image debian.img.xz to disk /dev/sda"
    assert what("zh-CN", params) == "把镜像 debian.img.xz 写入硬盘 /dev/sda"
    outcome = RescueWriteImageOutcome(
        disk="/dev/sda", confirmed=True, image_bytes=2048, disk_bytes=1 << 30, written=2048, verified=True
    )
    view = ActionView(
        "a1", "s1", params, "done", ActionResultBody(action_id="a1", status="ok", outcome=outcome)
    )
    assert (
        describe_result("en", view)[-1]
        == "  /dev/sda: typed by the user=True, wrote 2048/2048 bytes, verified=True"
    )
