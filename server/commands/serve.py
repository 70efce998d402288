"""`rme-server serve`: run the server (HTTPS + WSS) on uvicorn.

With no certificate configured, a local CA and a server certificate are generated under
`<data dir>/tls/` on first run; the CA's path is printed so it can be given to agents
(`ca.pem`), and the same files are reused on later runs.
"""

from __future__ import annotations

import argparse
import logging.config
import resource
import sys
from pathlib import Path
from typing import Any

from protocol.codec import MAX_CHUNK_FRAME
from protocol.limits import MAX_TEXT_FRAME
from server.commands._common import add_config_args, config_from_args
from server.config import ConfigError, ServerConfig
from server.logs import log_config
from server.malloc import pin_mmap_threshold
from server.tls import ensure_local_tls

# Frames up to twice the protocol's limit reach the app, which drops, counts and audits them;
# anything bigger is cut off by the WebSocket layer (close code 1009) before it is buffered.
WS_MAX_SIZE = 2 * max(MAX_TEXT_FRAME, MAX_CHUNK_FRAME)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("serve", help="run the server")
    add_config_args(parser)
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8443)")
    parser.add_argument(
        "--ssh-port", type=int, help="run the SSH gateway for engineers on this port (default: off)"
    )
    parser.set_defaults(handler=run)


def tls_paths(config: ServerConfig) -> tuple[Path, Path]:
    if config.tls_cert and config.tls_key:
        return config.tls_cert, config.tls_key
    if config.tls_cert or config.tls_key:
        raise ConfigError("set both tls_cert and tls_key, or neither (to use a generated local CA)")
    files = ensure_local_tls(config.data_dir / "tls", [config.host, *config.tls_names])
    note = "generated" if files.generated else "using"
    print(
        f"rme-server: {note} local TLS certificate; agents must trust the CA at {files.ca}", file=sys.stderr
    )
    return files.cert, files.key


def raise_open_files() -> None:
    """Raise the open-file limit (one descriptor per connection): to `fs.nr_open` (at most 2**20) where
    allowed (root, or systemd's `LimitNOFILE=`), else the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        ceiling = min(int(Path("/proc/sys/fs/nr_open").read_text()), 1 << 20)
    except (OSError, ValueError):
        ceiling = hard
    if hard != resource.RLIM_INFINITY and hard < ceiling:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, ceiling))
            return
        except (ValueError, OSError):
            pass
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args, host=args.host, port=args.port, ssh_port=args.ssh_port)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        cert, key = tls_paths(config)
        if config.ssh_port is not None:
            from server.ssh.hostkeys import fingerprint, host_key  # noqa: PLC0415  (asyncssh only when on)

            print(
                f"rme-server: SSH gateway on {config.ssh_host or config.host}:{config.ssh_port}, "
                f"host key {fingerprint(host_key(config.data_dir))}",
                file=sys.stderr,
            )
    except ConfigError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2
    # The web stack is imported here, not at module level: other commands need not pay for it.
    import uvicorn  # noqa: PLC0415

    from server.app import create_app, lean  # noqa: PLC0415

    logging_config = log_config(config.log_level)
    logging.config.dictConfig(logging_config)
    pin_mmap_threshold()  # TLS buffers of agents that come and go must not fragment the heap
    app = create_app(config, cert)
    raise_open_files()
    server = uvicorn.Server(
        uvicorn.Config(
            lean(app),
            host=config.host,
            port=config.port,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_config=logging_config,
            # uvicorn's sans-I/O websockets protocol: ~30 % less relay latency than its legacy one here
            # (bench.relay: median round trip 0.35 ms vs 0.50 ms).
            ws="websockets-sansio",
            ws_max_size=WS_MAX_SIZE,
            # One keep-alive, not two: agents and consoles send protocol heartbeats, which the idle
            # sweep (`server.relay.sweep`) watches, and agents ping; a server ping per link every 20 s
            # only doubled the idle wake-ups. No per-message deflate: ~50 KiB a link for small frames.
            ws_ping_interval=None,
            ws_per_message_deflate=False,
            proxy_headers=False,
            server_header=False,
            lifespan="on",
        )
    )
    server.run()
    return 0 if server.started else 1
