"""Kill switch: from the End request to every process of a running command gone (target < 200 ms).

A real `rme-agent run` process, connected over WSS to an in-process protocol peer (the server side of
`tests/agent/connection/peer.py`, which lets the bench start sessions without tickets). Each round: a
session is accepted, a command is consented that spawns a tree of 6 sleeping processes *and* three that
leave it — a double fork, `setsid -f`, and a daemon (fork, setsid, fork, every descriptor closed) — then
End is POSTed to the agent's local control channel — the same call as the panel button and `rme-agent
end` — and the clock stops when psutil sees the last of the 9 processes dead (gone or zombie).

Anchors in the same run, the floors with no agent in between: this bench process killing the 6-process
tree itself (`os.killpg` + psutil; the escapes are out of its reach), and killing the same tree with its
escapes through a cgroup of its own (`cgroup.kill`). RME_BENCH_KILL_ROUNDS sets the rounds (default 15).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from agent.actions.command import is_dead
from protocol.actions import CommandParams
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    ConsentReply,
    EngineerIdentity,
    SessionAccept,
    SessionEnd,
    SessionOffer,
    SessionOfferBody,
    new_id,
)
from tests.agent.connection.peer import PeerServer

BIN = Path(sys.executable).parent
TREE = "sleep 300 & (sleep 300 & sleep 300) & (sleep 300 & sleep 300); wait"
TREE_SIZE = 6  # the shell, its subshells and the sleeps (at least)
DAEMON = (
    "import os, sys, time\n"
    "if os.fork(): sys.exit(0)\n"
    "os.setsid()\n"
    "if os.fork(): sys.exit(0)\n"
    "os.chdir('/'); os.closerange(0, 1024)\n"
    "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)\n"
)


def escaping_tree(folder: Path) -> tuple[str, list[Path]]:
    """TREE, plus three processes that leave it; each escape writes its pid to a file."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "double-fork", folder / "setsid", folder / "daemon"]
    for file in files:
        file.unlink(missing_ok=True)
    script = folder / "daemon.py"
    script.write_text(DAEMON)
    command = (
        f"( sh -c 'echo $$ > {files[0]}; exec sleep 300' & ) ; "
        f"setsid -f sh -c 'echo $$ > {files[1]}; exec sleep 300' ; "
        f"{sys.executable} {script} {files[2]} ; {TREE}"
    )
    return command, files


async def _escapes(files: list[Path]) -> list[psutil.Process]:
    for _ in range(2000):
        try:
            return [psutil.Process(int(f.read_text())) for f in files]
        except (OSError, ValueError):
            await asyncio.sleep(0.005)
    raise TimeoutError("the escapes never started")


async def _until_dead(procs: list[psutil.Process]) -> None:
    for _ in range(100_000):  # polled every 0.5 ms: the resolution of the measurement
        if all(is_dead(p) for p in procs):
            return
        await asyncio.sleep(0.0005)
    raise TimeoutError("the tree is still alive")


async def _tree_of(root: psutil.Process, size: int) -> list[psutil.Process]:
    for _ in range(2000):
        family = root.children(recursive=True)
        if len(family) >= size:
            return family
        await asyncio.sleep(0.005)
    raise TimeoutError("the command tree never grew")


async def _panel(data: Path) -> tuple[str, str]:
    for _ in range(400):
        try:
            info = json.loads((data / "panel.json").read_text())
            return f"http://127.0.0.1:{info['port']}", str(info["secret"])
        except (OSError, ValueError, KeyError):
            await asyncio.sleep(0.05)
    raise TimeoutError("agent panel never came up")


async def _prompt(client: httpx.AsyncClient, kind: str) -> str:
    for _ in range(500):
        state = (await client.get("/api/state")).json()
        for prompt in state["guard"]["prompts"]:
            if prompt["kind"] == kind:
                return str(prompt["id"])
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no {kind} prompt")


async def anchor(rounds: int) -> list[float]:
    """The floor: kill the same tree from here, no agent, no HTTP."""
    times = []
    for _ in range(rounds):
        proc = await asyncio.create_subprocess_exec("/bin/sh", "-c", TREE, start_new_session=True)
        root = psutil.Process(proc.pid)
        family = [root, *await _tree_of(root, TREE_SIZE - 1)]
        start = time.perf_counter()
        os.killpg(proc.pid, signal.SIGKILL)
        await _until_dead(family)
        times.append((time.perf_counter() - start) * 1000)
        await proc.wait()
    return times


async def cgroup_anchor(rounds: int, tmp: Path) -> list[float]:
    """The floor for the agent's mechanism: the escaping tree in a cgroup of our own, `cgroup.kill`."""
    from agent.sandbox.cgroup import CommandCgroup

    times = []
    for n in range(rounds):
        command, files = escaping_tree(tmp / f"anchor-{n}")
        group = CommandCgroup.create()
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            start_new_session=True,
            preexec_fn=group.join,
            stdout=subprocess.DEVNULL,
        )
        group.close_fd()
        root = psutil.Process(proc.pid)
        family = [root, *await _tree_of(root, TREE_SIZE - 1), *await _escapes(files)]
        start = time.perf_counter()
        group.kill()
        await _until_dead(family)
        times.append((time.perf_counter() - start) * 1000)
        await proc.wait()
        group.wait_empty(2)
        group.remove()
    return times


async def through_agent(rounds: int, tmp: Path) -> list[float]:
    server = PeerServer(tmp / "peer")
    await server.start()
    data = tmp / "agent"
    env = {
        **os.environ,
        "RME_LANG": "en",
        "RME_OPEN_BROWSER": "0",
        "RME_INBOX": str(tmp / "inbox"),
        "RME_CONSENT_TIMEOUT": "30",
    }
    server.add_code("BENCH-CODE-0001", "dev-bench")
    enroll = await asyncio.create_subprocess_exec(
        str(BIN / "rme-agent"),
        "enroll",
        "BENCH-CODE-0001",
        "--server",
        server.url,
        "--ca",
        str(server.ca),
        "--data-dir",
        str(data),
        env=env,
        stdout=subprocess.DEVNULL,
    )
    await enroll.wait()
    agent = await asyncio.create_subprocess_exec(
        str(BIN / "rme-agent"),
        "run",
        "--server",
        server.url,
        "--data-dir",
        str(data),
        "--no-browser",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    times: list[float] = []
    inside: list[float] = []
    try:
        base, secret = await _panel(data)
        link = await server.link(timeout=30)
        root = psutil.Process(agent.pid)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {secret}"}, trust_env=False, timeout=10
        ) as client:
            for n in range(rounds):
                session = f"bench-{n}"
                engineer = EngineerIdentity(id="E1", name="Bench")
                await server.send(
                    SessionOffer(session=session, body=SessionOfferBody(ticket_id=f"t{n}", engineer=engineer))
                )
                await client.post(
                    "/api/answer", json={"prompt_id": await _prompt(client, "session"), "allow": True}
                )
                await server.expect(SessionAccept, link=link, session=session)
                action = new_id()
                command, files = escaping_tree(tmp / f"round-{n}")
                await server.send(
                    ActionRequest(
                        session=session,
                        body=ActionRequestBody(
                            action_id=action, action=CommandParams(command=command, timeout_s=600)
                        ),
                    )
                )
                await client.post(
                    "/api/answer", json={"prompt_id": await _prompt(client, "action"), "allow": True}
                )
                await server.expect(ConsentReply, link=link, body__action_id=action)
                family = [*await _tree_of(root, TREE_SIZE), *await _escapes(files)]
                # The clock stops when the tree is dead, not when the reply arrives (the reply waits for
                # the user's log line to be fsynced, which happens after the kill).
                start = time.perf_counter()
                watcher = asyncio.ensure_future(_until_dead(family))
                reply = asyncio.ensure_future(client.post("/api/end"))
                await watcher
                times.append((time.perf_counter() - start) * 1000)
                ended = (await reply).json()
                assert ended["ended"], ended
                inside.append(float(ended["elapsed_ms"]))
                await server.expect(SessionEnd, link=link, session=session)
    finally:
        agent.send_signal(signal.SIGTERM)
        await agent.wait()
        await server.stop()
    print(_summary("  of which inside the agent's end()", inside))
    return times


def _summary(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{name:<34} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   "
        f"max {max(times):7.1f} ms   (n={len(times)})"
    )


def main() -> None:
    rounds = int(os.environ.get("RME_BENCH_KILL_ROUNDS", "15"))
    with tempfile.TemporaryDirectory() as tmp:
        floor = asyncio.run(anchor(rounds))
        floor_cgroup = asyncio.run(cgroup_anchor(rounds, Path(tmp)))
        agent = asyncio.run(through_agent(rounds, Path(tmp)))
    print(_summary("anchor: killpg from here", floor))
    print(_summary("anchor: cgroup.kill from here", floor_cgroup))
    print(_summary("End → all 9 gone (agent)", agent))
    verdict = "MET" if max(agent) < 200 else "MISSED"
    print(f"target < 200 ms (every round): {verdict}")


if __name__ == "__main__":
    main()
