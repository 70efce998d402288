"""`rme-agent enroll CODE`: register this PC with the operator's server, once.

Makes the device key, copies the operator's CA into the data directory (it is the only CA the agent will
ever trust for this server), and redeems the single-use code.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import ssl
import sys
from pathlib import Path
from typing import Any

from websockets.exceptions import WebSocketException

from agent.commands._common import command_parser
from agent.config import AgentConfig
from agent.connection import AgentClient, ConnectError, IdentityStore
from agent.datadir import make_private
from agent.i18n import Lang, Text
from protocol.errors import ProtocolError

T_DONE = Text("注册成功：设备 {device}（客户 {customer}）", "Enrolled: device {device} (customer {customer})")
T_FAILED = Text("注册失败：{why}", "Enrollment failed: {why}")
T_NEED = Text(
    "需要 --server 和运营商的 CA 证书（--ca）", "Needs --server and the operator's CA certificate (--ca)"
)


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers, "enroll", "register this PC with the server using a one-time code", handle
    )
    parser.add_argument("code", help="the enrollment code from your provider")
    parser.add_argument("--ca", type=Path, default=None, help="the operator's CA certificate (PEM)")
    parser.add_argument("--name", default=None, help="this PC's name as the provider sees it")


def handle(args: argparse.Namespace, config: AgentConfig, lang: Lang) -> int:
    make_private(config.data_dir)
    if args.ca is not None and args.ca.resolve() != config.ca_path.resolve():
        shutil.copyfile(args.ca, config.ca_path)
    if config.server is None or not config.ca_path.is_file():
        print(T_NEED.render(lang), file=sys.stderr)
        return 2
    client = AgentClient(
        config.server, config.ca_path, IdentityStore(config.data_dir), connect_timeout=config.connect_timeout
    )
    name = args.name or config.device_name or platform.node() or "PC"
    try:
        identity = asyncio.run(client.enroll(args.code, name))
    except (OSError, WebSocketException, TimeoutError, ConnectError, ProtocolError, ssl.SSLError) as exc:
        print(T_FAILED.render(lang, why=f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return 1
    print(T_DONE.render(lang, device=identity.device_id, customer=identity.customer_id))
    return 0
