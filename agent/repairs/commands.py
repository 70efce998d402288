"""Running a repair's commands: argv lists only (never a shell), bounded time, output kept for the log."""

from __future__ import annotations

import asyncio
import contextlib

from agent.repairs.models import CommandRun

MAX_OUTPUT = 4000


async def run(argv: list[str], timeout_s: float) -> CommandRun:
    """Run `argv` for at most `timeout_s`; a missing program or a timeout is a failed run, not an error."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        return CommandRun(argv=tuple(argv), returncode=None, output=str(exc))
    try:
        async with asyncio.timeout(timeout_s):
            output, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return CommandRun(argv=tuple(argv), returncode=None, output=f"timed out after {timeout_s:g} s")
    text = output.decode("utf-8", "replace").strip()[-MAX_OUTPUT:]
    return CommandRun(argv=tuple(argv), returncode=process.returncode, output=text)


def succeeded(runs: list[CommandRun]) -> bool:
    return bool(runs) and all(r.returncode == 0 for r in runs)
