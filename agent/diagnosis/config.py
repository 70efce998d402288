"""Diagnosis settings: defaults for Chinese home broadband, overridable by the agent's TOML config
(`[diagnosis]` table), by `RME_DIAGNOSIS_*` environment variables and by command-line flags — in that
order, the last one wins.

Environment variables are named after the fields: `RME_DIAGNOSIS_CHECK_URL`, `RME_DIAGNOSIS_REFERENCE_DNS`
(lists are comma-separated), `RME_DIAGNOSIS_DNS_TIMEOUT_S`, …
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Windows' NCSI probe: reachable from mainland China, tiny, and its body is fixed.
DEFAULT_CHECK_URL = "http://www.msftconnecttest.com/connecttest.txt"
DEFAULT_CHECK_EXPECT = "Microsoft Connect Test"
# AliDNS and DNSPod (Tencent): public anycast resolvers that answer from anywhere in China.
DEFAULT_REFERENCE_DNS = ("223.5.5.5", "119.29.29.29")
# Names whose addresses do not depend on where you ask (no CDN), so any disagreement means forgery.
DEFAULT_KNOWN_NAMES = ("dns.alidns.com",)
# The same two resolvers over IPv6 (TCP port 53): is IPv6 reachable at all?
DEFAULT_REFERENCE_IPV6 = ("2400:3200::1", "2402:4e00::")


class ConfigError(ValueError):
    """A setting from a file, the environment or a flag is not valid."""


def split_host_port(value: str) -> tuple[str, int]:
    """`1.2.3.4:443` or `[2001:db8::1]:443` → (host, port); the host must be an IP literal."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]")
    ipaddress.ip_address(host)
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {value!r}")
    return host, port


class DiagnosisSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    interface: str | None = None
    check_url: str = DEFAULT_CHECK_URL
    check_expect: str = DEFAULT_CHECK_EXPECT
    reference_dns: tuple[str, ...] = DEFAULT_REFERENCE_DNS
    # Empty means "port 53 over TCP on each reference resolver": the internet by IP, no DNS involved.
    probe_tcp: tuple[str, ...] = ()
    known_names: tuple[str, ...] = DEFAULT_KNOWN_NAMES
    reference_ipv6: tuple[str, ...] = DEFAULT_REFERENCE_IPV6
    # Where echoes of several sizes go to find an MTU black hole (and the router after ours);
    # empty means the first reference resolver.
    mtu_target: str = ""
    path_probes: bool = True
    nx_suffix: str = "com"
    dns_timeout_s: float = Field(default=1.0, gt=0, le=10)
    tcp_timeout_s: float = Field(default=1.0, gt=0, le=10)
    gateway_timeout_s: float = Field(default=1.0, gt=0, le=10)
    http_timeout_s: float = Field(default=2.0, gt=0, le=20)
    # Link-layer probes, sent only when an adapter has no address or a dialer is down.
    pppoe_timeout_s: float = Field(default=1.5, gt=0, le=10)
    dhcp_timeout_s: float = Field(default=1.5, gt=0, le=10)
    mtu_timeout_s: float = Field(default=1.0, gt=0, le=10)
    dns_slow_ms: float = Field(default=400.0, gt=0)
    gateway_slow_ms: float = Field(default=200.0, gt=0)

    @field_validator("reference_dns", "reference_ipv6")
    @classmethod
    def _ips(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            ipaddress.ip_address(item)
        return value

    @field_validator("mtu_target")
    @classmethod
    def _ip_or_empty(cls, value: str) -> str:
        if value:
            ipaddress.IPv4Address(value)
        return value

    def path_target(self) -> str | None:
        return self.mtu_target or (self.reference_dns[0] if self.reference_dns else None)

    @field_validator("probe_tcp")
    @classmethod
    def _host_ports(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            split_host_port(item)
        return value

    @field_validator("check_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith("http://"):
            raise ValueError("the connectivity check must be plain http:// (a portal cannot intercept TLS)")
        return value

    def tcp_targets(self) -> tuple[tuple[str, int], ...]:
        if self.probe_tcp:
            return tuple(split_host_port(item) for item in self.probe_tcp)
        return tuple((server, 53) for server in self.reference_dns)


_LIST_FIELDS = frozenset({"reference_dns", "probe_tcp", "known_names", "reference_ipv6"})


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in DiagnosisSettings.model_fields:
        raw = environ.get(f"RME_DIAGNOSIS_{name.upper()}")
        if raw is None:
            continue
        values[name] = tuple(p.strip() for p in raw.split(",") if p.strip()) if name in _LIST_FIELDS else raw
    return values


def read_table(path: Path, table_name: str) -> dict[str, Any]:
    """One table of the agent's TOML config, lists turned into tuples (settings models are frozen)."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    table = document.get(table_name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{table_name}] must be a table")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def config_file(
    config_path: Path | None, environ: Mapping[str, str], data_dir: Path | None = None
) -> Path | None:
    """The agent config to read: `--config`, else `$RME_CONFIG`, else `agent.toml` in the data directory
    (`data_dir`, else the default one) if there is one — the same search as `agent.config`."""
    if config_path is not None:
        return config_path
    if environ.get("RME_CONFIG"):
        return Path(environ["RME_CONFIG"])
    from agent.config import CONFIG_FILE, default_data_dir  # noqa: PLC0415  (only when no file was named)

    default = (data_dir or default_data_dir(environ)) / CONFIG_FILE
    return default if default.is_file() else None


def load_settings(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    data_dir: Path | None = None,
) -> DiagnosisSettings:
    """Defaults ← TOML `[diagnosis]` ← `RME_DIAGNOSIS_*` ← `overrides` (flags; None values are ignored).
    The TOML file is `config_path`, else the one `config_file` finds (in `data_dir` when given)."""
    env = os.environ if environ is None else environ
    config_path = config_file(config_path, env, data_dir)
    merged: dict[str, Any] = {}
    if config_path is not None:
        merged.update(read_table(config_path, "diagnosis"))
    merged.update(_from_env(env))
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return DiagnosisSettings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
