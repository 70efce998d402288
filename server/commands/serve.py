"""`rme-server serve`: run the server (HTTPS + WSS) on uvicorn.

With no certificate configured, a local CA and a server certificate are generated under
`<data dir>/tls/` on first run; the CA's path is printed so it can be given to agents
(`ca.pem`), and the same files are reused on later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging.config
import resource
import ssl
import sys
from pathlib import Path
from typing import Any

from protocol.codec import MAX_CHUNK_FRAME
from protocol.limits import MAX_TEXT_FRAME
from server.commands._common import AUDIT_LOG_NAME, add_config_args, config_from_args
from server.config import ConfigError, ServerConfig
from server.gate import TlsGate, gated
from server.logs import log_config
from server.malloc import pin_mmap_threshold
from server.metrics import multiproc_dir
from server.tls import ensure_local_tls
from server.workers import Supervisor, die_with_parent, listening_socket, workers_problem

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
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes on this node, sharing the port (default 1; more need PostgreSQL and Redis)",
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
        config = config_from_args(
            args, host=args.host, port=args.port, ssh_port=args.ssh_port, workers=args.workers
        )
        problem = workers_problem(config)
        if problem is not None:
            raise ConfigError(problem)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        cert, key = tls_paths(config)
        if config.ssh_port is not None:
            from server.ssh.hostkeys import fingerprint, host_key, user_ca  # noqa: PLC0415  (asyncssh only when on)

            user_ca(config.data_dir)  # made once here, not raced for by the workers
            print(
                f"rme-server: SSH gateway on {config.ssh_host or config.host}:{config.ssh_port}, "
                f"host key {fingerprint(host_key(config.data_dir))}",
                file=sys.stderr,
            )
        if config.workers > 1:
            from server.audit.setup import load_signer  # noqa: PLC0415

            load_signer(config, AUDIT_LOG_NAME)  # the shared signing key exists before the workers start
    except ConfigError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2
    raise_open_files()
    if config.workers == 1:
        return serve_one(config, cert, key, None)
    logging.config.dictConfig(log_config(config.log_level))
    try:  # once, here: N workers migrating a fresh database at once race (one fails its start-up)
        asyncio.run(migrate(config))
    except Exception as exc:  # any failure: say it and stop, as a lone server would
        print(f"rme-server: cannot migrate the database: {exc}", file=sys.stderr)
        return 1
    multiproc_dir(config.data_dir)  # before the workers start: they read it at import
    print(f"rme-server: {config.workers} worker processes on port {config.port}", file=sys.stderr)
    return Supervisor(config.workers, functools.partial(worker_main, config, cert, key)).run()


async def migrate(config: ServerConfig) -> None:
    from server.db.engine import open_engine  # noqa: PLC0415
    from server.db.migrate import upgrade  # noqa: PLC0415

    engine = open_engine(config.effective_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def worker_main(config: ServerConfig, cert: Path, key: Path, index: int) -> None:
    """One worker of `serve --workers N` (in a spawned process): serve until told to stop."""
    die_with_parent()
    raise_open_files()
    if index != 0:  # one SSH gateway per node (its spool directory is the node's)
        config = config.model_copy(update={"ssh_port": None})
    sys.exit(serve_one(config, cert, key, index))


def serve_one(config: ServerConfig, cert: Path, key: Path, worker: int | None) -> int:
    """Run one server process on uvicorn; `worker` is its index under `--workers` (None: alone)."""
    # The web stack is imported here, not at module level: other commands need not pay for it.
    import uvicorn  # noqa: PLC0415
    from uvicorn.protocols.http.auto import AutoHTTPProtocol  # noqa: PLC0415

    from server.app import create_app, lean  # noqa: PLC0415

    logging_config = log_config(config.log_level)
    logging.config.dictConfig(logging_config)
    pin_mmap_threshold()  # TLS buffers of agents that come and go must not fragment the heap
    app = create_app(config, cert, worker)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    gate = TlsGate(context, config.tls_handshakes_max, config.tls_handshake_timeout, app.state.shed_log)
    try:
        sock = listening_socket(config.host, config.port, reuse_port=worker is not None)
    except OSError as exc:
        print(f"rme-server: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    server = uvicorn.Server(
        uvicorn.Config(
            lean(app),
            # TLS is done by `server.gate` (admission before the handshake), not by the event loop.
            http=gated(gate, AutoHTTPProtocol),  # type: ignore[arg-type]
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
            # A short accept queue: in a storm, connections waiting in a long one outlive the agents'
            # connect timeout and are then handshaken for nobody (a 4096 queue stalled a ramp at 2,272
            # agents). Past this the kernel drops SYNs and the agents' TCP retries them, at no cost here.
            backlog=config.tls_handshakes_max,
        )
    )
    server.run(sockets=[sock])
    return 0 if server.started else 1
