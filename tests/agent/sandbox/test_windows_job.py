"""Job Objects exist only on Windows (no Windows machine in CI: see docs/agent.md). What can be checked
here: off Windows the module imports, refuses clearly, and the structure matches the Win32 layout."""

from __future__ import annotations

import ctypes
import sys

import pytest

from agent.sandbox import windows_job


@pytest.mark.skipif(sys.platform == "win32", reason="the refusal is the non-Windows behaviour")
def test_off_windows_a_job_is_refused_clearly() -> None:
    with pytest.raises(OSError, match="only on Windows"):
        windows_job.JobObject.create()


def test_the_limit_structure_has_the_win32_layout() -> None:
    # JOBOBJECT_EXTENDED_LIMIT_INFORMATION: 144 bytes on 64-bit Windows (basic limits 64, I/O counters
    # 48, four SIZE_Ts); the same C layout here.
    if ctypes.sizeof(ctypes.c_void_p) == 8:
        assert ctypes.sizeof(windows_job._BasicLimits) == 64
        assert ctypes.sizeof(windows_job._ExtendedLimits) == 144
    assert windows_job.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE == 0x2000
