"""`rme-server billing`: BSS integrations, billing endpoints, the catalogue, dead letters, the export.

rme-server billing integration add NAME        a new integration; prints its signing secret once
rme-server billing integration rotate NAME     a new secret; the old one stays valid until the next rotate
rme-server billing integration disable NAME
rme-server billing endpoint add URL            where billing events go; prints its signing secret once
rme-server billing catalogue load FILE.json    plans and service items (see docs/billing.md)
rme-server billing catalogue show
rme-server billing dead list | replay EVENT_ID
rme-server billing export --month 2026-11 --out DIR   CSV and JSON of the month's billing events
rme-server billing summarize --month 2026-11   the month's usage.summary per customer (once each)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from server.commands._common import AdminContext, add_config_args, run_admin


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("billing", help="billing hooks and the catalogue")
    groups = parser.add_subparsers(dest="billing_command", metavar="WHAT", required=True)

    integration = groups.add_parser("integration", help="BSS integrations (inbound signing secrets)")
    actions = integration.add_subparsers(dest="integration_action", metavar="ACTION", required=True)
    for name, text in (("add", "create"), ("rotate", "new secret"), ("disable", "stop accepting")):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("name")
        add_config_args(sub)
        sub.set_defaults(handler=run_integration)

    endpoint = groups.add_parser("endpoint", help="where billing events are delivered")
    actions = endpoint.add_subparsers(dest="endpoint_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a receiver URL")
    add.add_argument("url")
    add_config_args(add)
    add.set_defaults(handler=run_endpoint)
    listing = actions.add_parser("list", help="list receivers")
    add_config_args(listing)
    listing.set_defaults(handler=run_endpoint)

    catalogue = groups.add_parser("catalogue", help="plans and service items")
    actions = catalogue.add_subparsers(dest="catalogue_action", metavar="ACTION", required=True)
    load = actions.add_parser("load", help="replace the catalogue from a JSON file")
    load.add_argument("file", type=Path)
    add_config_args(load)
    load.set_defaults(handler=run_catalogue)
    show = actions.add_parser("show", help="print the catalogue as JSON")
    add_config_args(show)
    show.set_defaults(handler=run_catalogue)

    dead = groups.add_parser("dead", help="events that could not be delivered for 3 days")
    actions = dead.add_subparsers(dest="dead_action", metavar="ACTION", required=True)
    dead_list = actions.add_parser("list")
    add_config_args(dead_list)
    dead_list.set_defaults(handler=run_dead)
    replay = actions.add_parser("replay")
    replay.add_argument("event_id")
    add_config_args(replay)
    replay.set_defaults(handler=run_dead)

    summarize = groups.add_parser("summarize", help="write the month's usage.summary events (once each)")
    summarize.add_argument("--month", required=True, help="YYYY-MM (a month that is over)")
    add_config_args(summarize)
    summarize.set_defaults(handler=run_summarize)

    export = groups.add_parser("export", help="the month's billing events as CSV and JSON")
    export.add_argument("--month", required=True, help="YYYY-MM")
    export.add_argument("--out", type=Path, required=True, help="directory to write to")
    add_config_args(export)
    export.set_defaults(handler=run_export)


def run_integration(args: argparse.Namespace) -> int:
    from server.billing import admin  # noqa: PLC0415  (keeps --help fast)

    async def work(ctx: AdminContext) -> str | None:
        await ctx.record(f"billing.integration_{args.integration_action}", {"name": args.name})
        return await admin.integration(ctx.engine, args.integration_action, args.name)

    try:
        secret = run_admin(args, work)
    except admin.AdminError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 1
    if secret:
        print(secret)
    return 0


def run_endpoint(args: argparse.Namespace) -> int:
    from server.billing import admin  # noqa: PLC0415

    async def work(ctx: AdminContext) -> Any:
        if args.endpoint_action == "add":
            await ctx.record("billing.endpoint_added", {"url": args.url[:500]})
            return await admin.add_endpoint(ctx.engine, args.url)
        return await admin.list_endpoints(ctx.engine)

    try:
        result = run_admin(args, work)
    except admin.AdminError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 1
    print(result if isinstance(result, str) else json.dumps(result, indent=2))
    return 0


def run_catalogue(args: argparse.Namespace) -> int:
    from pydantic import ValidationError  # noqa: PLC0415

    from server.billing.catalogue import Catalogue, load_catalogue, read_catalogue  # noqa: PLC0415

    if args.catalogue_action == "load":
        try:
            catalogue = Catalogue.model_validate_json(args.file.read_bytes())
        except (OSError, ValidationError) as exc:
            print(f"rme-server: cannot read the catalogue: {exc}", file=sys.stderr)
            return 2

        async def load(ctx: AdminContext) -> None:
            await ctx.record(
                "billing.catalogue_loaded", {"items": len(catalogue.items), "plans": len(catalogue.plans)}
            )
            await load_catalogue(ctx.engine, catalogue)

        try:
            run_admin(args, load)
        except ValueError as exc:
            print(f"rme-server: {exc}", file=sys.stderr)
            return 2
        print(f"catalogue: {len(catalogue.items)} items, {len(catalogue.plans)} plans")
        return 0

    async def show(ctx: AdminContext) -> dict[str, Any]:
        return await read_catalogue(ctx.engine)

    print(json.dumps(run_admin(args, show), indent=2, ensure_ascii=False, default=str))
    return 0


def run_dead(args: argparse.Namespace) -> int:
    import datetime as dt  # noqa: PLC0415

    from server.billing.outbox import dead_letters, replay  # noqa: PLC0415

    async def work(ctx: AdminContext) -> Any:
        if args.dead_action == "replay":
            await ctx.record("billing.replayed", {"event_id": args.event_id[:64]})
            return await replay(ctx.engine, args.event_id, dt.datetime.now(dt.UTC))
        return await dead_letters(ctx.engine)

    result = run_admin(args, work)
    if args.dead_action == "replay":
        if not result:
            print(f"rme-server: no dead event {args.event_id!r}", file=sys.stderr)
            return 1
        print(f"{args.event_id}: pending again")
        return 0
    print(json.dumps(result, indent=2))
    return 0


def run_summarize(args: argparse.Namespace) -> int:
    import datetime as dt  # noqa: PLC0415

    from server.billing.usage import summarize  # noqa: PLC0415

    async def work(ctx: AdminContext) -> list[str]:
        return await summarize(ctx.engine, args.month, dt.datetime.now(dt.UTC))

    try:
        written = run_admin(args, work)
    except ValueError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2
    print(f"{len(written)} usage.summary event(s) written for {args.month}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from server.billing.export import month_export, write_export  # noqa: PLC0415

    async def work(ctx: AdminContext) -> Any:
        return await month_export(ctx.engine, args.month)

    try:
        export = run_admin(args, work)
    except ValueError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2
    paths = write_export(export, args.out)
    print(" ".join(str(p) for p in paths))
    return 0
