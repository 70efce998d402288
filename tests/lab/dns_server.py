"""A tiny DNS server for the fault lab (dnspython + asyncio, UDP and TCP).

One process serves several addresses; each address behaves per a *mode* read from a JSON file on every
query, so a test changes a fault by rewriting that file (no restart):

- `honest`: answers from the zone; any other name is NXDOMAIN;
- `nxhijack`: like honest, but names that do not exist get `hijack_address` (ISP "search assist");
- `lie`: like honest, but the names in `lies` get forged addresses;
- `checklie`: like honest, but the names in `check_lies` get forged addresses (a lie about one host);
- `slow`: honest after `slow_ms`;
- `silent`: never answers.

    python -m tests.lab.dns_server CONFIG.json

CONFIG: {"listen": ["223.5.5.5", …], "zone": {"name.": "1.2.3.4"}, "modes_file": "…",
         "lies": {"name.": "6.6.6.6"}, "hijack_address": "…", "slow_ms": 700}
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class Behaviour:
    def __init__(self, config: dict[str, Any]) -> None:
        self.zone: dict[str, str] = {k.lower(): v for k, v in config["zone"].items()}
        self.lies: dict[str, str] = {k.lower(): v for k, v in config.get("lies", {}).items()}
        self.check_lies: dict[str, str] = {k.lower(): v for k, v in config.get("check_lies", {}).items()}
        self.hijack = str(config.get("hijack_address", "203.0.113.99"))
        self.slow_s = float(config.get("slow_ms", 700)) / 1000
        self.modes_file = Path(config["modes_file"])

    def mode(self, local: str) -> str:
        try:
            modes: dict[str, str] = json.loads(self.modes_file.read_text())
        except (OSError, ValueError):
            return "honest"
        return modes.get(local, "honest")

    async def answer(self, wire: bytes, local: str) -> bytes | None:
        mode = self.mode(local)
        if mode == "silent":
            return None
        if mode == "slow":
            await asyncio.sleep(self.slow_s)
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower()
        address = self.zone.get(name)
        if mode == "lie" and name in self.lies:
            address = self.lies[name]
        if mode == "checklie" and name in self.check_lies:
            address = self.check_lies[name]
        if address is None and mode == "nxhijack":
            address = self.hijack
        if address is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", address))
        return response.to_wire()


class Udp(asyncio.DatagramProtocol):
    def __init__(self, behaviour: Behaviour, local: str) -> None:
        self.behaviour, self.local = behaviour, local
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        task = asyncio.ensure_future(self._reply(data, addr))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _reply(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        wire = await self.behaviour.answer(data, self.local)
        if wire is not None and self.transport is not None:
            self.transport.sendto(wire, addr)


def _udp_factory(behaviour: Behaviour, local: str) -> Callable[[], Udp]:
    return lambda: Udp(behaviour, local)


async def serve(config: dict[str, Any]) -> None:
    behaviour = Behaviour(config)
    loop = asyncio.get_running_loop()
    servers = []
    for local in config["listen"]:
        await loop.create_datagram_endpoint(_udp_factory(behaviour, local), local_addr=(local, 53))

        async def on_tcp(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, local: str = local
        ) -> None:
            try:
                while True:
                    size = struct.unpack("!H", await reader.readexactly(2))[0]
                    wire = await behaviour.answer(await reader.readexactly(size), local)
                    if wire is None:
                        continue
                    writer.write(struct.pack("!H", len(wire)) + wire)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        servers.append(await asyncio.start_server(on_tcp, local, 53))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(Path(sys.argv[1]).read_text())))
