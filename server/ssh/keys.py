"""Engineers' SSH credentials in the database: registered OpenSSH public keys, and the short-lived
certificates the server's user CA signs (`rme-server user add-key | keys | revoke-key | ssh-cert`,
and the console's account page).

A login is allowed by an active row: a registered key whose fingerprint matches, or a certificate
whose serial the server issued (and asyncssh has checked its CA signature, principal and validity).
Revoking a row refuses the next login at once; revoking a key also revokes the certificates issued
for that key.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.accounts.engineers import Engineer
from server.db.tables import aware, engineers, new_id, ssh_keys, utcnow

if TYPE_CHECKING:
    import asyncssh

DEFAULT_CERT_HOURS = 8.0
MAX_CERT_HOURS = 24.0 * 7
MAX_KEY_TEXT = 16 * 1024
MAX_COMMENT = 200
LANGS = ("zh-CN", "en")


class SshKeyError(Exception):
    """A key the caller gave cannot be used (not an OpenSSH public key, registered already …)."""


@dataclass(frozen=True)
class SshKey:
    id: str
    engineer_id: str
    kind: str  # "key" | "cert"
    fingerprint: str
    comment: str
    serial: int | None
    valid_before: dt.datetime | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.valid_before is None or aware(self.valid_before) > utcnow()

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "comment": self.comment,
            "serial": self.serial,
            "valid_before": aware(self.valid_before).isoformat() if self.valid_before else None,
            "created_at": aware(self.created_at).isoformat(),
            "revoked_at": aware(self.revoked_at).isoformat() if self.revoked_at else None,
            "active": self.active,
        }


def _row(row: sa.Row[tuple[object, ...]]) -> SshKey:
    m = row._mapping
    return SshKey(
        id=m["id"],
        engineer_id=m["engineer_id"],
        kind=m["kind"],
        fingerprint=m["fingerprint"],
        comment=m["comment"],
        serial=m["serial"],
        valid_before=m["valid_before"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


async def _insert(conn: AsyncConnection, row: SshKey, public_key: str, created_by: str) -> None:
    await conn.execute(
        ssh_keys.insert().values(
            id=row.id,
            engineer_id=row.engineer_id,
            kind=row.kind,
            fingerprint=row.fingerprint,
            public_key=public_key,
            comment=row.comment,
            serial=row.serial,
            valid_before=row.valid_before,
            created_at=row.created_at,
            created_by=created_by[:128],
            revoked_at=None,
        )
    )


def parse_public_key(text: str) -> tuple[asyncssh.SSHKey, str]:
    """An OpenSSH public key line (`ssh-ed25519 AAAA… comment`) → (key, comment). SshKeyError if not one."""
    text = text.strip()
    if not text or len(text) > MAX_KEY_TEXT or "\n" in text:
        raise SshKeyError("give one OpenSSH public key line (the contents of id_ed25519.pub)")
    if "PRIVATE KEY" in text:
        raise SshKeyError(
            "that is a private key: give the public key (the .pub file), and keep the private one"
        )
    if "-cert-v01@openssh.com" in text.split(maxsplit=1)[0]:
        raise SshKeyError("that is a certificate: register the plain public key")
    import asyncssh  # noqa: PLC0415  (~0.2 s to import: only the commands that parse keys pay it)

    try:
        key = asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise SshKeyError(f"not an OpenSSH public key: {exc}") from None
    parts = text.split(maxsplit=2)
    comment = parts[2] if len(parts) == 3 else ""
    return key, comment[:MAX_COMMENT]


def key_fingerprint(key: asyncssh.SSHKey) -> str:
    return str(key.get_fingerprint("sha256"))


async def add_key(engine: AsyncEngine, engineer: Engineer, text: str, created_by: str) -> SshKey:
    key, comment = parse_public_key(text)
    fingerprint = key_fingerprint(key)
    line = key.export_public_key("openssh").decode().strip()
    now = utcnow()
    async with engine.begin() as conn:
        taken = await conn.scalar(
            sa.select(ssh_keys.c.engineer_id).where(
                ssh_keys.c.fingerprint == fingerprint,
                ssh_keys.c.kind == "key",
                ssh_keys.c.revoked_at.is_(None),
            )
        )
        if taken is not None:
            raise SshKeyError(f"key {fingerprint} is registered already")
        row = SshKey(new_id("k"), engineer.id, "key", fingerprint, comment, None, None, now, None)
        await _insert(conn, row, line, created_by)
    return row


async def list_keys(engine: AsyncEngine, engineer_id: str) -> list[SshKey]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(ssh_keys)
                .where(ssh_keys.c.engineer_id == engineer_id)
                .order_by(ssh_keys.c.created_at)
            )
        ).all()
    return [_row(r) for r in rows]


async def revoke_key(engine: AsyncEngine, engineer_id: str, which: str) -> list[SshKey]:
    """Revoke the engineer's key or certificate named by row id, fingerprint or certificate serial;
    revoking a key revokes the certificates issued for it too. Returns what was revoked."""
    now = utcnow()
    match = [ssh_keys.c.id == which, ssh_keys.c.fingerprint == which]
    if which.isdigit():
        match.append(ssh_keys.c.serial == int(which))
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                sa.select(ssh_keys).where(
                    ssh_keys.c.engineer_id == engineer_id, ssh_keys.c.revoked_at.is_(None), sa.or_(*match)
                )
            )
        ).all()
        if not rows:
            raise SshKeyError(f"no active key or certificate {which!r} for this account")
        fingerprints = {r._mapping["fingerprint"] for r in rows if r._mapping["kind"] == "key"}
        ids = {r._mapping["id"] for r in rows}
        if fingerprints:  # the certificates of a revoked key go with it
            more = await conn.execute(
                sa.select(ssh_keys.c.id).where(
                    ssh_keys.c.engineer_id == engineer_id,
                    ssh_keys.c.revoked_at.is_(None),
                    ssh_keys.c.fingerprint.in_(fingerprints),
                )
            )
            ids |= set(more.scalars())
        await conn.execute(ssh_keys.update().where(ssh_keys.c.id.in_(ids)).values(revoked_at=now))
        done = (await conn.execute(sa.select(ssh_keys).where(ssh_keys.c.id.in_(ids)))).all()
    return [_row(r) for r in done]


async def issue_certificate(
    engine: AsyncEngine,
    ca: asyncssh.SSHKey,
    engineer: Engineer,
    public_key_text: str,
    *,
    created_by: str,
    hours: float = DEFAULT_CERT_HOURS,
) -> tuple[str, SshKey]:
    """Sign an OpenSSH user certificate for `engineer` (principal: the username) valid `hours` from
    now; no forwarding permitted. Returns the certificate line (`…-cert.pub`) and its row."""
    if not 0 < hours <= MAX_CERT_HOURS:
        raise SshKeyError(f"a certificate is valid for more than 0 and at most {MAX_CERT_HOURS:g} hours")
    key, comment = parse_public_key(public_key_text)
    now = utcnow()
    valid_before = now + dt.timedelta(hours=hours)
    serial = secrets.randbits(52)  # exact in JSON (audit events are canonical JSON: < 2^53)
    cert = ca.generate_user_certificate(
        key,
        f"rme:{engineer.username}:{serial}",
        serial=serial,
        principals=[engineer.username],
        valid_after=int(now.timestamp()) - 60,  # a client clock a little behind still works
        valid_before=int(valid_before.timestamp()),
        permit_x11_forwarding=False,
        permit_agent_forwarding=False,
        permit_port_forwarding=False,
        permit_pty=True,
        permit_user_rc=False,
        comment=comment or None,
    )
    text = cert.export_certificate("openssh").decode().strip()
    fingerprint = key_fingerprint(key)
    row = SshKey(new_id("k"), engineer.id, "cert", fingerprint, comment, serial, valid_before, now, None)
    async with engine.begin() as conn:
        await _insert(conn, row, text, created_by)
    return text, row


@dataclass(frozen=True)
class LoginAccount:
    """What the gateway needs to know of an account at login."""

    engineer: Engineer
    lang: str
    locked: bool


async def login_account(engine: AsyncEngine, username: str) -> LoginAccount | None:
    from server.accounts.engineers import _engineer  # noqa: PLC0415  (the one row → Engineer mapping)

    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(engineers).where(engineers.c.username == username))).first()
    if row is None:
        return None
    locked_until = row._mapping["locked_until"]
    locked = locked_until is not None and aware(locked_until) > utcnow()
    lang = row._mapping["lang"] if row._mapping["lang"] in LANGS else "zh-CN"
    return LoginAccount(_engineer(row), lang, locked)


async def _active(
    engine: AsyncEngine, engineer_id: str, kind: str, match: sa.ColumnElement[bool]
) -> SshKey | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(ssh_keys).where(
                    ssh_keys.c.engineer_id == engineer_id,
                    ssh_keys.c.kind == kind,
                    ssh_keys.c.revoked_at.is_(None),
                    match,
                )
            )
        ).first()
    found = _row(row) if row is not None else None
    return found if found is not None and found.active else None


async def active_key(engine: AsyncEngine, engineer_id: str, fingerprint: str) -> SshKey | None:
    """The account's registered, unrevoked key with this fingerprint."""
    return await _active(engine, engineer_id, "key", ssh_keys.c.fingerprint == fingerprint)


async def active_certificate(engine: AsyncEngine, engineer_id: str, serial: int) -> SshKey | None:
    """The certificate the server issued to the account with this serial, unrevoked and unexpired."""
    return await _active(engine, engineer_id, "cert", ssh_keys.c.serial == serial)


async def set_lang(engine: AsyncEngine, engineer_id: str, lang: str) -> None:
    if lang not in LANGS:
        raise SshKeyError(f"language: one of {', '.join(LANGS)}")
    async with engine.begin() as conn:
        await conn.execute(engineers.update().where(engineers.c.id == engineer_id).values(lang=lang))


async def verify_totp(engine: AsyncEngine, engineer_id: str, code: str) -> bool:
    """The account's current TOTP code, accepted once (the console's rule: its time step is
    remembered by a conditional UPDATE, so a code seen over a shoulder cannot be replayed)."""
    from server.accounts.engineers import _totp_step  # noqa: PLC0415  (the console login's own check)

    code = code.strip()
    if not (code.isdigit() and len(code) <= 10):
        return False
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(engineers).where(engineers.c.id == engineer_id))).first()
    if row is None or not row.totp_enabled or not row.totp_secret:
        return False
    step = _totp_step(row.totp_secret, code, row.totp_last_step, utcnow())
    if step is None:
        return False
    async with engine.begin() as conn:
        result = await conn.execute(
            engineers.update()
            .where(engineers.c.id == engineer_id, engineers.c.totp_last_step == row.totp_last_step)
            .values(totp_last_step=step)
        )
    return bool(result.rowcount == 1)
