"""`rme-server rescue build|issue`: the rescue ISO, and a copy of it issued to one customer.

`build --out DIR` makes the base image (Debian live system + rescue agent; needs root, mmdebstrap,
squashfs-tools, xorriso, grub-pc-bin, grub-efi-amd64-bin, mtools), carrying this server's rescue public
key. `issue --customer ID --out FILE` copies the base image and writes a signed provisioning blob (server
address, CA, customer, a fresh single-use enrollment code and its expiry) into its reserved slot.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rescue import keys
from rescue.provision import Provision, ProvisionError, public_key_hex, seal, write_slot
from server.commands._common import AdminContext, add_config_args, config_from_args, run_admin
from server.devices import store as devices

DEFAULT_EPOCH = 1764547200  # 2025-12-01: the base image's timestamps unless SOURCE_DATE_EPOCH says


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rescue", help="rescue boot images: build the ISO, issue one to a customer"
    )
    actions = parser.add_subparsers(dest="rescue_action", metavar="ACTION", required=True)

    build = actions.add_parser("build", help="build the base rescue ISO")
    build.add_argument("--out", type=Path, required=True, help="folder for rme-rescue.iso")
    build.add_argument("--cache", type=Path, default=None, help="stage cache (default /var/cache/rme-rescue)")
    build.add_argument("--epoch", type=int, default=None, help="SOURCE_DATE_EPOCH for the image")
    build.add_argument("--log", type=Path, default=None, help="write the build tools' output here")
    build.set_defaults(handler=_build)

    issue = actions.add_parser("issue", help="issue a rescue image to a customer")
    issue.add_argument("--customer", required=True)
    issue.add_argument("--out", type=Path, required=True, help="the customer's ISO")
    issue.add_argument(
        "--base", type=Path, default=None, help="the base ISO from `rescue build` (default: rescue_base_iso)"
    )
    issue.add_argument(
        "--server-url",
        default=None,
        help="wss://host:port as the customer's PC reaches it (default: rescue_server_url)",
    )
    issue.add_argument("--ttl", type=int, default=None, help="seconds the enrollment code stays valid")
    issue.set_defaults(handler=_issue)
    for p in (build, issue):
        add_config_args(p)


def _build(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    from rescue.image import build_iso, check_tools  # noqa: PLC0415

    missing = check_tools()
    if missing:
        print(
            f"rme-server: the rescue build needs: {', '.join(missing)} (see scripts/bootstrap)",
            file=sys.stderr,
        )
        return 2
    config = config_from_args(args)
    key = keys.load_or_create(config.data_dir)
    epoch = args.epoch or int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))
    started = time.monotonic()
    iso = build_iso(args.out, public_key_hex(key), epoch, cache=args.cache, log=args.log)
    print(f"{iso}\t{iso.stat().st_size}\t{time.monotonic() - started:.1f}s")
    return 0


def _issue(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    # Never guessed: the address sealed into an image is where the customer's PC will send its code.
    args.server_url = args.server_url or config.rescue_server_url
    args.base = args.base or config.rescue_base_iso
    if args.server_url is None:
        print(
            "rme-server: give --server-url or set rescue_server_url (RME_RESCUE_SERVER_URL)", file=sys.stderr
        )
        return 2
    if args.base is None:
        print("rme-server: give --base or set rescue_base_iso (RME_RESCUE_BASE_ISO)", file=sys.stderr)
        return 2
    if not args.server_url.startswith("wss://"):
        print("rme-server: the server URL must be wss://host:port", file=sys.stderr)
        return 2
    if not args.base.is_file():
        print(f"rme-server: no base image at {args.base}", file=sys.stderr)
        return 2

    async def work(ctx: AdminContext) -> Provision:
        ttl = args.ttl or ctx.config.enrollment_code_ttl
        await ctx.record("admin.rescue_issued", {"customer": args.customer, "ttl_s": ttl})
        code = await devices.create_enrollment_code(ctx.engine, args.customer, ctx.actor, ttl)
        now = int(time.time())
        ca = (ctx.config.data_dir / "tls" / "ca.pem").read_text()
        return Provision(args.server_url, ca, args.customer, code, now + ttl, now)

    try:
        provision = run_admin(args, work)
    except (devices.DeviceError, OSError) as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 1
    blob = seal(provision, keys.load_or_create(config.data_dir))
    part = args.out.with_name(args.out.name + ".part")
    shutil.copyfile(args.base, part)
    try:
        write_slot(part, blob)
    except ProvisionError as exc:
        part.unlink(missing_ok=True)
        print(f"rme-server: {exc}", file=sys.stderr)
        return 1
    part.replace(args.out)
    print(f"{args.out}\t{provision.customer}\texpires {provision.expires_at}")
    return 0
