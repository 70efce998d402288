"""The server's settings: defaults, then a TOML file, then `RME_*` environment variables, then flags.

pydantic-settings is not in the lock, so this is a small loader over `tomllib` and a pydantic model:
each field `name` can be set as `name = ...` in the TOML file or as `RME_NAME` in the environment
(lists in the environment are comma-separated). Unknown keys are errors, so a typo never goes unnoticed.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

ENV_PREFIX = "RME_"
CONFIG_ENV = "RME_CONFIG"


class ConfigError(Exception):
    """The configuration file or environment holds something the server cannot run with."""


class ServerConfig(BaseModel):
    """Everything an operator can set. Durations are seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=0, le=65535)
    data_dir: Path = Path("rme-data")
    # SQLAlchemy async URL; default: SQLite (WAL) file `rme.db` under the data directory.
    database_url: str | None = None
    # Production certificate; when both are unset a local CA and server certificate are generated.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Extra names (DNS or IP) for the generated server certificate, besides localhost and the host.
    tls_names: tuple[str, ...] = ()
    # Origins the console is served from; state-changing requests from anything else are refused.
    # Empty means `https://{host}:{port}` and `https://localhost:{port}`.
    allowed_origins: tuple[str, ...] = ()
    session_ttl: int = Field(default=12 * 3600, ge=60)
    # Login throttling (`server.accounts.throttle`): failures of one name from one address before
    # that pair backs off (1 s, 2 s, 4 s … up to `login_lockout` s); failed logins per address
    # (`login_address_burst`, refilled at `login_address_per_minute`).
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout: int = Field(default=900, ge=1)
    login_address_burst: int = Field(default=20, ge=1)
    login_address_per_minute: float = Field(default=10.0, gt=0)
    # Argon2 checks run in this many threads, with at most `login_hash_queue` more waiting (then 503).
    login_hash_workers: int = Field(default=1, ge=1, le=64)
    login_hash_queue: int = Field(default=16, ge=0)
    # Anonymous WebSocket handshakes (/ws/agent, /ws/engineer) per address.
    ws_handshake_burst: int = Field(default=200, ge=1)
    ws_handshakes_per_second: float = Field(default=20.0, gt=0)
    # Addresses (networks) never throttled: a local reverse proxy, the operator's tools. Empty: none.
    throttle_exempt: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    enrollment_code_ttl: int = Field(default=900, ge=30)
    # Load shedding on /ws/agent (a reconnect storm): past `agent_handshakes_max` handshakes in progress,
    # or `agent_capacity` connected agents (0: no cap), a new agent gets HTTP 503 with a Retry-After of
    # `shed_retry_after` seconds (jittered) before anything is accepted; behind a load balancer it
    # lands on another node.
    agent_handshakes_max: int = Field(default=256, ge=1)
    # Before TLS (`server.gate`): at most `tls_handshakes_max` connections in their TLS handshake at once
    # per process; one past that is closed at accept, before any TLS work (the agent backs off), and a
    # handshake not done within `tls_handshake_timeout` seconds is dropped. 128: a 200/s reconnect wave
    # over 300 ms round trips keeps ~60 in flight; 128 × ~2 ms of CPU bounds the loop's queue at ~0.25 s.
    tls_handshakes_max: int = Field(default=128, ge=1)
    tls_handshake_timeout: float = Field(default=10.0, gt=0)
    # Server processes on this node (`rme-server serve --workers N`, `server.workers`): each a node of its
    # own in the cluster, all sharing the listening port (SO_REUSEPORT). More than one needs PostgreSQL.
    workers: int = Field(default=1, ge=1, le=64)
    agent_capacity: int = Field(default=0, ge=0)
    shed_retry_after: float = Field(default=5.0, gt=0)
    # Per-connection limits on the relay.
    ws_frames_per_second: float = Field(default=200.0, gt=0)
    ws_frame_burst: int = Field(default=400, ge=1)
    ws_chunk_bytes_per_second: int = Field(default=400 * 1024 * 1024, ge=1)
    # Silence after which a link is closed; agents are asked to beat every third of it (60 s: an idle
    # agent costs the node one small frame each way a minute, under common NAT idle timers).
    heartbeat_timeout: float = Field(default=180.0, gt=0)
    auth_timeout: float = Field(default=15.0, gt=0)
    offer_timeout: float = Field(default=120.0, gt=0)
    # How long a session waits for its engineer's console to come back (page reload, network blip)
    # before it ends as `connection_lost`; 0 ends it as soon as the console's connection closes.
    engineer_grace: float = Field(default=20.0, ge=0)
    # Bearer token for Prometheus; without it `/metrics` needs an admin session.
    metrics_token: str | None = None
    redis_url: str | None = None
    # Node liveness (`server.relay.nodes`): each node refreshes its row every `node_heartbeat` seconds;
    # a node not seen for `node_dead_after` seconds is dead, and its open tickets are ended.
    node_heartbeat: float = Field(default=10.0, gt=0)
    node_dead_after: float = Field(default=30.0, gt=0)
    # Command outputs are kept beside the audit log (which holds only their hashes) for this many
    # days, so a session export can still show what the engineer saw; then the server deletes them.
    output_retention_days: float = Field(default=30.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # The supervisor's reports and alerts (`server.kpi`): the desk's time zone (IANA name), how often
    # each node samples the engineer consoles it holds, how often alerts are evaluated, and where an
    # alert's change is sent (a Standard Webhooks endpoint and its `whsec_…` secret).
    report_tz: str = "Asia/Shanghai"
    presence_period: float = Field(default=30.0, gt=0)
    alert_period: float = Field(default=5.0, gt=0)
    alert_webhook_url: str | None = None
    alert_webhook_secret: str | None = None
    # Billing events (`server.billing.delivery`): how often each node looks for due events when nothing
    # woke it, and the first retry delay (doubling per attempt, at most an hour, for up to 3 days).
    billing_period: float = Field(default=1.0, gt=0)
    billing_retry_base: float = Field(default=2.0, gt=0)
    # The audit log's signing key (docs/audit.md, "Where the signing key lives"): a key file anywhere,
    # or the key text itself (`RME_AUDIT_SIGNING_KEY`); neither: `<data dir>/audit-signing.key`.
    audit_signing_key_file: Path | None = None
    audit_signing_key: SecretStr | None = None
    # Sign a checkpoint this often while there are new events (seconds; 0: only at session ends).
    audit_checkpoint_interval: float = Field(default=60.0, ge=0)
    # A witness (`rme-server audit witness`) that cosigns checkpoints: its URL and its verifier key.
    audit_witness_url: str | None = None
    audit_witness_key: str | None = None
    # The SSH gateway for engineers (`server.ssh`, docs/ssh.md): off unless a port is set; it listens on
    # `ssh_host` (default: `host`). Its host key and user CA live under `<data dir>/ssh/`.
    ssh_port: int | None = Field(default=None, ge=0, le=65535)
    ssh_host: str | None = None
    # Rescue images issued from the console (docs/rescue.md): the base ISO from `rme-server rescue build`,
    # and the address the customer's PC reaches this server at (default: from `allowed_origins`, else
    # `host:port` unless a wildcard; never the request's Host header — server.web.rescue_routes.server_url).
    rescue_base_iso: Path | None = None
    rescue_server_url: str | None = None

    @model_validator(mode="after")
    def _dead_after_spans_missed_beats(self) -> ServerConfig:
        # More than two beats: one late heartbeat (a slow database, a pause) must not declare a node dead.
        if self.node_dead_after <= 2 * self.node_heartbeat:
            raise ValueError("node_dead_after must be more than twice node_heartbeat")
        return self

    @model_validator(mode="after")
    def _exempt_are_networks(self) -> ServerConfig:
        for network in self.throttle_exempt:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"throttle_exempt: {network!r} is not an address or network") from None
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'rme.db').resolve()}"

    @property
    def output_retention(self) -> float:
        """`output_retention_days` in seconds."""
        return self.output_retention_days * 86400

    @property
    def origins(self) -> frozenset[str]:
        if self.allowed_origins:
            return frozenset(o.rstrip("/") for o in self.allowed_origins)
        return frozenset({f"https://{self.host}:{self.port}", f"https://localhost:{self.port}"})


_LIST_FIELDS = frozenset(
    name for name, field in ServerConfig.model_fields.items() if "tuple" in str(field.annotation)
)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ServerConfig.model_fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        values[name] = tuple(p.strip() for p in raw.split(",") if p.strip()) if name in _LIST_FIELDS else raw
    return values


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Build the config: TOML file (`path`, else `$RME_CONFIG`), then `RME_*`, then `overrides`.

    `overrides` holds command-line flags; a None value means "not given".
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    file = path or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if file is not None:
        try:
            with file.open("rb") as handle:
                values.update(tomllib.load(handle))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {file}: {exc}") from exc
    values.update(_from_env(env))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return ServerConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
