"""The gateway's own keys, kept in the data directory: the host key (what clients pin in known_hosts)
and the user CA that signs engineers' short-lived certificates. Both Ed25519, created on first use,
mode 0600, reused afterwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncssh

HOST_KEY_NAME = "ssh_host_ed25519_key"
CA_KEY_NAME = "user_ca_ed25519_key"


def ssh_dir(data_dir: Path) -> Path:
    return data_dir / "ssh"


def ensure_key(path: Path) -> asyncssh.SSHKey:
    """The private key at `path`, generated (Ed25519, 0600) if there is none yet."""
    import asyncssh  # noqa: PLC0415  (only the gateway and `ssh-cert` need it)

    if path.exists():
        return asyncssh.read_private_key(str(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=path.name)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key())
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return key


def host_key(data_dir: Path) -> asyncssh.SSHKey:
    return ensure_key(ssh_dir(data_dir) / HOST_KEY_NAME)


def user_ca(data_dir: Path) -> asyncssh.SSHKey:
    return ensure_key(ssh_dir(data_dir) / CA_KEY_NAME)


def fingerprint(key: asyncssh.SSHKey) -> str:
    """OpenSSH's `SHA256:…` fingerprint (what `ssh` prints and `ssh-keygen -lf` shows)."""
    return str(key.get_fingerprint("sha256"))
