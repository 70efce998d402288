"""Windows: each engineer command in its own Job Object, killed as one.

A Job Object is Windows' cgroup for this purpose: every process created by a process in the job is in
the job too (no breakaway: we do not grant JOB_OBJECT_LIMIT_BREAKAWAY_OK), `TerminateJobObject` ends
them all, and JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE ends them when the last handle closes — so even if the
agent itself is killed, the kernel closes its handle and the command dies with it (the ledger is the
POSIX answer to the same problem).

The command must be in the job before it can start anything: it is created suspended
(CREATE_SUSPENDED), assigned, then resumed (`NtResumeProcess`: `subprocess` does not give us the main
thread's handle). Nested jobs (Windows 8+) mean this works even when the agent already runs in a job.

Not tested here (no Windows machine in CI); written against the documented API, typed, and kept behind
`sys.platform == "win32"` so importing it anywhere else is harmless.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

CREATE_SUSPENDED = 0x00000004
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
JOB_OBJECT_BASIC_PROCESS_ID_LIST_CLASS = 3


class _IoCounters(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64) for name in ("r_ops", "w_ops", "o_ops", "r_bytes", "w_bytes", "o_bytes")
    ]


class _BasicLimits(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class _ExtendedLimits(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", _BasicLimits),
        ("IoInfo", _IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


class _ProcessIdList(ctypes.Structure):
    _fields_ = [
        ("NumberOfAssignedProcesses", ctypes.c_uint32),
        ("NumberOfProcessIdsInList", ctypes.c_uint32),
        ("ProcessIdList", ctypes.c_size_t * 1024),
    ]


def _dll(name: str) -> Any:
    """A Windows DLL (kernel32 with GetLastError kept); OSError anywhere else."""
    loader: Any = getattr(ctypes, "WinDLL", None)  # only on Windows: checked at run time, not by mypy
    if loader is None:
        raise OSError(0, "Job Objects exist only on Windows")
    return loader(name, use_last_error=name == "kernel32")


def _check(ok: int, what: str) -> int:
    if not ok:
        raise OSError(getattr(ctypes, "get_last_error", lambda: 0)(), f"{what} failed")
    return ok


@dataclass
class JobObject:
    """One command's job. `close()` (or the agent's death) kills whatever is still in it."""

    handle: int

    @classmethod
    def create(cls) -> JobObject:
        kernel32 = _dll("kernel32")
        kernel32.CreateJobObjectW.restype = ctypes.c_void_p
        handle = kernel32.CreateJobObjectW(None, None)
        _check(handle, "CreateJobObjectW")
        limits = _ExtendedLimits()
        limits.BasicLimitInformation.LimitFlags = (
            JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
        )
        job = cls(int(handle))
        try:
            _check(
                kernel32.SetInformationJobObject(
                    ctypes.c_void_p(handle),
                    JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
                    ctypes.byref(limits),
                    ctypes.sizeof(limits),
                ),
                "SetInformationJobObject",
            )
        except OSError:
            job.close()
            raise
        return job

    def assign_and_resume(self, process_handle: int) -> None:
        """Put a CREATE_SUSPENDED process in the job, then let it run."""
        kernel32 = _dll("kernel32")
        ntdll = _dll("ntdll")
        _check(
            kernel32.AssignProcessToJobObject(ctypes.c_void_p(self.handle), ctypes.c_void_p(process_handle)),
            "AssignProcessToJobObject",
        )
        status = ntdll.NtResumeProcess(ctypes.c_void_p(process_handle))
        if status != 0:
            raise OSError(status, "NtResumeProcess failed")

    def pids(self) -> list[int]:
        kernel32 = _dll("kernel32")
        info = _ProcessIdList()
        ok = kernel32.QueryInformationJobObject(
            ctypes.c_void_p(self.handle),
            JOB_OBJECT_BASIC_PROCESS_ID_LIST_CLASS,
            ctypes.byref(info),
            ctypes.sizeof(info),
            None,
        )
        if not ok:
            return []
        return [int(info.ProcessIdList[i]) for i in range(info.NumberOfProcessIdsInList)]

    def kill(self) -> list[int]:
        """Terminate every process in the job, now."""
        victims = self.pids()
        kernel32 = _dll("kernel32")
        kernel32.TerminateJobObject(ctypes.c_void_p(self.handle), 1)
        return victims

    def close(self) -> None:
        if self.handle:
            kernel32 = _dll("kernel32")
            kernel32.CloseHandle(ctypes.c_void_p(self.handle))
            self.handle = 0


def resume(process_handle: int) -> None:
    """Let a CREATE_SUSPENDED process run without a job (when none could be made)."""
    _dll("ntdll").NtResumeProcess(ctypes.c_void_p(process_handle))
