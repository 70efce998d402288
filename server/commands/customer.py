"""`rme-server customer add|list|subscription|enroll-code|import|devices|revoke`: customers and devices."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc

from server.commands._common import AdminContext, add_config_args, run_admin
from server.devices import bulk
from server.devices import store as devices
from server.devices.revocation import publish_revocation

SUBSCRIPTIONS = ("active", "suspended", "cancelled")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("customer", help="manage customers and devices")
    actions = parser.add_subparsers(dest="customer_action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="create a customer; prints its id")
    add.add_argument("name")
    add.add_argument("--subscription", choices=SUBSCRIPTIONS, default="active")
    add.add_argument("--ref", help="the operator's own customer reference (BSS id)")
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="list customers")
    listing.set_defaults(handler=_list)

    sub = actions.add_parser("subscription", help="set a customer's subscription status")
    sub.add_argument("customer_id")
    sub.add_argument("status", choices=SUBSCRIPTIONS)
    sub.set_defaults(handler=_subscription)

    code = actions.add_parser("enroll-code", help="make a single-use enrollment code for a new device")
    code.add_argument("customer_id")
    code.add_argument("--ttl", type=int, help="seconds the code stays valid (default: config)")
    code.set_defaults(handler=_enroll_code)

    imp = actions.add_parser(
        "import",
        help="create many customers from a CSV file (name,ref,subscription,public_key); "
        "prints customer ids with enrollment codes (or device ids) as CSV",
    )
    imp.add_argument("csv_file", type=Path, help="the CSV file ('-' reads standard input)")
    imp.add_argument("--out", type=Path, help="write the result CSV here (mode 0600) instead of stdout")
    imp.add_argument("--ttl", type=int, help="seconds the codes stay valid (default: config)")
    imp.set_defaults(handler=_import)

    devs = actions.add_parser("devices", help="list a customer's devices")
    devs.add_argument("customer_id")
    devs.set_defaults(handler=_devices)

    revoke = actions.add_parser(
        "revoke", help="revoke a device: it can no longer connect, and is cut within seconds if connected"
    )
    revoke.add_argument("device_id")
    revoke.set_defaults(handler=_revoke)

    for p in (add, listing, sub, code, imp, devs, revoke):
        add_config_args(p)


async def _tell_nodes(ctx: AdminContext, device_id: str) -> None:
    """With Redis, tell every node at once; every node's revocation sweep cuts it within seconds
    anyway (`server.devices.revocation`), so a Redis that cannot be reached is only a warning."""
    if not ctx.config.redis_url:
        return
    from server.relay.redis_bus import RedisBus  # noqa: PLC0415  (only Redis deployments need it)

    bus = RedisBus(ctx.config.redis_url)
    try:
        await bus.start()
        await publish_revocation(bus, device_id, ctx.actor)
    except Exception as exc:  # the revocation itself is done and recorded
        print(
            f"rme-server: revoked; the nodes could not be told through Redis ({exc}); "
            "they cut the device on their next sweep",
            file=sys.stderr,
        )
    finally:
        with contextlib.suppress(Exception):
            await bus.close()


def _fail(exc: Exception) -> int:
    print(f"rme-server: {exc}", file=sys.stderr)
    return 1


def _add(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> devices.Customer:
        await ctx.record("admin.customer_added", {"name": args.name, "subscription": args.subscription})
        return await devices.create_customer(ctx.engine, args.name, args.subscription, args.ref)

    print(run_admin(args, work).id)
    return 0


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> list[devices.Customer]:
        return await devices.list_customers(ctx.engine)

    for c in run_admin(args, work):
        print(f"{c.id}\t{c.subscription}\t{c.name}")
    return 0


def _subscription(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> None:
        await ctx.record(
            "admin.subscription_changed", {"customer": args.customer_id, "subscription": args.status}
        )
        await devices.set_subscription(ctx.engine, args.customer_id, args.status)

    try:
        run_admin(args, work)
    except devices.DeviceError as exc:
        return _fail(exc)
    return 0


def _enroll_code(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> str:
        ttl = args.ttl or ctx.config.enrollment_code_ttl
        await ctx.record("admin.enrollment_code_created", {"customer": args.customer_id, "ttl_s": ttl})
        return await devices.create_enrollment_code(ctx.engine, args.customer_id, ctx.actor, ttl)

    try:
        print(run_admin(args, work))
    except devices.DeviceError as exc:
        return _fail(exc)
    return 0


def _import(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if str(args.csv_file) == "-" else args.csv_file.read_text("utf-8-sig")
        rows = bulk.parse_rows(text)
    except (OSError, UnicodeDecodeError, bulk.BulkImportError) as exc:
        return _fail(exc)

    async def work(ctx: AdminContext) -> list[bulk.Imported]:
        ttl = args.ttl or ctx.config.enrollment_code_ttl
        keys = sum(1 for r in rows if r.public_key is not None)
        await ctx.record(
            "admin.customers_imported",
            {
                "rows": len(rows),
                "device_keys": keys,
                "codes": len(rows) - keys,
                "ttl_s": ttl,
                "file_sha256": hashlib.sha256(text.encode()).hexdigest(),
            },
        )
        return await bulk.import_rows(ctx.engine, rows, ctx.actor, ttl)

    try:
        results = run_admin(args, work)
    except sa_exc.IntegrityError:
        return _fail(ValueError("a public_key in the file is already enrolled; nothing was imported"))
    out = bulk.write_results(results)
    if args.out is None:
        sys.stdout.write(out)
    else:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the codes are secrets
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(out)
        print(f"rme-server: imported {len(results)} customers into {args.out}", file=sys.stderr)
    return 0


def _devices(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> list[devices.Device]:
        return await devices.list_devices(ctx.engine, args.customer_id)

    for d in run_admin(args, work):
        print(f"{d.id}\t{'revoked' if d.revoked else 'active'}\t{d.name}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> None:
        await ctx.record("admin.device_revoked", {"device": args.device_id})
        await devices.revoke_device(ctx.engine, args.device_id)
        await _tell_nodes(ctx, args.device_id)

    try:
        run_admin(args, work)
    except devices.DeviceError as exc:
        return _fail(exc)
    return 0
