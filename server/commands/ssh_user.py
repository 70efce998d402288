"""`rme-server user add-key | keys | revoke-key | ssh-cert | lang`: an engineer's SSH credentials
for the gateway (`server.ssh`), each audited like the other account commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from server.accounts import engineers as accounts
from server.commands._common import AdminContext, add_config_args, admin_command
from server.ssh import keys
from server.ssh.hostkeys import fingerprint, user_ca

REFUSED = (accounts.AccountError, keys.SshKeyError)


def register(actions: Any) -> None:
    add = actions.add_parser("add-key", help="register an OpenSSH public key for the SSH gateway")
    add.add_argument("username")
    add.add_argument("key_file", nargs="?", type=Path, help="the .pub file (default: read stdin)")
    add.set_defaults(handler=_add_key)

    listing = actions.add_parser("keys", help="list an account's SSH keys and certificates")
    listing.add_argument("username")
    listing.set_defaults(handler=_list_keys)

    revoke = actions.add_parser("revoke-key", help="revoke an SSH key or certificate")
    revoke.add_argument("username")
    revoke.add_argument("which", help="key id, SHA256: fingerprint or certificate serial")
    revoke.set_defaults(handler=_revoke_key)

    cert = actions.add_parser("ssh-cert", help="sign a short-lived OpenSSH certificate for the gateway")
    cert.add_argument("username")
    cert.add_argument("key_file", type=Path, help="the engineer's public key (.pub)")
    cert.add_argument("--hours", type=float, default=keys.DEFAULT_CERT_HOURS, help="validity (default 8)")
    cert.add_argument("--out", type=Path, help="where to write it (default: KEY-cert.pub beside the key)")
    cert.set_defaults(handler=_ssh_cert)

    lang = actions.add_parser("lang", help="the account's language (the SSH prompt speaks it)")
    lang.add_argument("username")
    lang.add_argument("lang", choices=keys.LANGS)
    lang.set_defaults(handler=_lang)

    for sub in (add, listing, revoke, cert, lang):
        add_config_args(sub)


def _read_key(path: Path | None) -> str:
    try:
        return path.read_text("utf-8") if path is not None else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        sys.exit(f"rme-server: cannot read the key: {exc}")


def _add_key(args: argparse.Namespace) -> int:
    text = _read_key(args.key_file)

    async def work(ctx: AdminContext) -> keys.SshKey:
        engineer = await accounts.get_engineer(ctx.engine, username=args.username)
        key, _ = keys.parse_public_key(text)
        await ctx.record(
            "admin.ssh_key_added", {"username": args.username, "fingerprint": keys.key_fingerprint(key)}
        )
        return await keys.add_key(ctx.engine, engineer, text, ctx.actor)

    return admin_command(args, work, REFUSED, lambda k: f"added {k.fingerprint} for {args.username} ({k.id})")


def _list_keys(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> list[keys.SshKey]:
        engineer = await accounts.get_engineer(ctx.engine, username=args.username)
        return await keys.list_keys(ctx.engine, engineer.id)

    def show(rows: list[keys.SshKey]) -> str:
        lines = []
        for k in rows:
            state = "active" if k.active else ("revoked" if k.revoked_at else "expired")
            extra = f"serial={k.serial} until={k.valid_before:%Y-%m-%d %H:%M}Z" if k.kind == "cert" else ""
            lines.append(f"{k.id}\t{k.kind}\t{k.fingerprint}\t{state}\t{k.comment}\t{extra}".rstrip())
        return "\n".join(lines) or f"{args.username} has no SSH keys"

    return admin_command(args, work, REFUSED, show)


def _revoke_key(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> list[keys.SshKey]:
        engineer = await accounts.get_engineer(ctx.engine, username=args.username)
        await ctx.record("admin.ssh_key_revoked", {"username": args.username, "which": args.which[:100]})
        return await keys.revoke_key(ctx.engine, engineer.id, args.which)

    return admin_command(
        args,
        work,
        REFUSED,
        lambda rows: "\n".join(f"revoked {k.kind} {k.fingerprint} ({k.id})" for k in rows),
    )


def _ssh_cert(args: argparse.Namespace) -> int:
    text = _read_key(args.key_file)
    out = args.out or args.key_file.with_name(args.key_file.name.removesuffix(".pub") + "-cert.pub")

    async def work(ctx: AdminContext) -> keys.SshKey:
        engineer = await accounts.get_engineer(ctx.engine, username=args.username)
        key, _ = keys.parse_public_key(text)
        ca = user_ca(ctx.config.data_dir)
        await ctx.record(
            "admin.ssh_cert_issued",
            {
                "username": args.username,
                "fingerprint": keys.key_fingerprint(key),
                "hours": args.hours,
                "ca": fingerprint(ca),
            },
        )
        cert, row = await keys.issue_certificate(
            ctx.engine, ca, engineer, text, created_by=ctx.actor, hours=args.hours
        )
        out.write_text(cert + "\n", "utf-8")
        return row

    return admin_command(
        args,
        work,
        REFUSED,
        lambda row: f"wrote {out} (serial {row.serial}, valid until {row.valid_before:%Y-%m-%d %H:%M} UTC)",
    )


def _lang(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> None:
        engineer = await accounts.get_engineer(ctx.engine, username=args.username)
        await ctx.record("admin.engineer_lang", {"username": args.username, "lang": args.lang})
        await keys.set_lang(ctx.engine, engineer.id, args.lang)

    return admin_command(args, work, REFUSED, lambda _: f"{args.username} speaks {args.lang}")
