"""`rme-server user add|passwd|disable|enable|list`: engineer accounts from the command line; and the
SSH gateway's `add-key|keys|revoke-key|ssh-cert|lang` (`server.commands.ssh_user`)."""

from __future__ import annotations

import argparse
from typing import Any

from server.accounts import engineers as accounts
from server.accounts.roles import Role
from server.commands._common import AdminContext, add_config_args, admin_command, read_password, run_admin


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("user", help="manage engineer accounts")
    actions = parser.add_subparsers(dest="user_action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.label for r in Role], default="engineer")
    add.add_argument("--display-name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=_add)

    passwd = actions.add_parser("passwd", help="set a new password (ends the user's logins)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=_passwd)

    for name, handler, text in (
        ("disable", _disable, "disable an account (ends its logins)"),
        ("enable", _enable, "enable an account again"),
    ):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("username")
        sub.set_defaults(handler=handler)

    listing = actions.add_parser("list", help="list accounts")
    listing.set_defaults(handler=_list)

    for sub in (add, passwd, listing, *(actions.choices[n] for n in ("disable", "enable"))):
        add_config_args(sub)

    from server.commands import ssh_user  # noqa: PLC0415  (the SSH gateway's key commands)

    ssh_user.register(actions)


def _add(args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin)

    async def work(ctx: AdminContext) -> accounts.Engineer:
        await ctx.record("admin.engineer_added", {"username": args.username, "role": args.role})
        return await accounts.create_engineer(
            ctx.engine, args.username, password, Role.parse(args.role), args.display_name
        )

    return admin_command(
        args,
        work,
        accounts.AccountError,
        lambda made: f"created {made.role.label} {made.username} ({made.id})",
    )


def _passwd(args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin)

    async def work(ctx: AdminContext) -> None:
        await ctx.record("admin.password_reset", {"username": args.username})
        await accounts.set_password(ctx.engine, args.username, password)

    return admin_command(args, work, accounts.AccountError, lambda _: f"password of {args.username} changed")


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    async def work(ctx: AdminContext) -> None:
        kind = "admin.engineer_disabled" if disabled else "admin.engineer_enabled"
        await ctx.record(kind, {"username": args.username})
        await accounts.set_disabled(ctx.engine, args.username, disabled)

    state = "disabled" if disabled else "enabled"
    return admin_command(args, work, accounts.AccountError, lambda _: f"{args.username} {state}")


def _disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def _enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> list[accounts.Engineer]:
        return await accounts.list_engineers(ctx.engine)

    for e in run_admin(args, work):
        flags = " disabled" if e.disabled else ""
        print(f"{e.username}\t{e.role.label}\t{e.display_name}{flags}")
    return 0
