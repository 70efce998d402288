"""The raw system calls report failures as OSError with the errno, never a silent -1."""

from __future__ import annotations

import errno

import pytest

from agent.sandbox import syscalls
from tests.agent.sandbox.helpers import need, run_in


def test_a_failing_call_raises_with_its_errno() -> None:
    need(syscalls.LIBC is not None, "Linux libc")
    with pytest.raises(OSError) as caught:
        syscalls.mount(None, b"/definitely/not/here", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None)
    assert caught.value.errno in (errno.ENOENT, errno.EPERM)
    with pytest.raises(OSError):
        syscalls.unshare(-1)


def test_no_new_privs_is_set_in_the_child() -> None:
    need(syscalls.LIBC is not None, "Linux libc")
    done = run_in(
        lambda: syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1), "grep NoNewPrivs /proc/self/status"
    )
    assert done.stdout.split() == ["NoNewPrivs:", "1"]
