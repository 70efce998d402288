"""`rme-agent rescue boot|install-hdd|uninstall-hdd|write-usb`: the rescue live system's agent and
screen (`agent.rescue.boot`), the hard-disk edition (`agent.rescue.hdd`), the USB writer
(`agent.rescue.usb`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agent.commands._common import add_common_arguments


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rescue", help="rescue mode (the rescue live system)"
    )
    actions = parser.add_subparsers(dest="rescue_action", metavar="ACTION", required=True)
    boot = actions.add_parser("boot", help="run the rescue screen and agent (started by the rescue system)")
    add_common_arguments(boot)
    boot.add_argument("--tty", type=Path, action="append", default=[], help="a terminal to draw on (repeat)")
    boot.add_argument("--slot", type=Path, default=None, help="the provisioning slot file")
    boot.add_argument("--public-key", type=Path, default=None, help="the server's rescue public key (hex)")
    boot.set_defaults(handler=_boot)

    hdd = actions.add_parser("install-hdd", help="put the rescue system on this disk with a GRUB entry")
    hdd.add_argument("--iso", type=Path, required=True, help="the rescue ISO (or an unpacked copy of it)")
    hdd.add_argument("--root", type=Path, default=Path("/"), help="the system's root (default /)")
    hdd.add_argument("--yes", action="store_true", help="consent given on the command line (no question)")
    hdd.add_argument("--lang", choices=["zh-CN", "en"], default=None)
    hdd.set_defaults(handler=_install_hdd)
    un = actions.add_parser("uninstall-hdd", help="remove the hard-disk rescue system and its GRUB entry")
    un.add_argument("--root", type=Path, default=Path("/"), help="the system's root (default /)")
    un.add_argument("--lang", choices=["zh-CN", "en"], default=None)
    un.set_defaults(handler=_uninstall_hdd)

    usb = actions.add_parser("write-usb", help="write the rescue ISO to a USB disk and verify it")
    usb.add_argument("--iso", type=Path, required=True)
    usb.add_argument("--device", default=None, help="the USB disk, e.g. /dev/sdb (default: the only one)")
    usb.add_argument("--list", action="store_true", help="only list the removable disks")
    usb.add_argument("--lang", choices=["zh-CN", "en"], default=None)
    usb.set_defaults(handler=_write_usb)


def _boot(args: argparse.Namespace) -> int:
    from agent.rescue import boot  # noqa: PLC0415

    ttys = args.tty or [Path("/dev/tty")]
    return boot.main(
        ttys,
        slot=args.slot or boot.boot_slot(),
        public_key=args.public_key or boot.PUBLIC_KEY,
        data_dir=args.data_dir or boot.DATA_DIR,
        fbterm=Path("/dev/tty1") in ttys,  # the PC's console: drawn through fbterm once it runs
    )


def _lang(args: argparse.Namespace) -> str:
    from agent.i18n import system_lang  # noqa: PLC0415

    return str(args.lang or system_lang())


def _confirm(prompt: str) -> bool:
    print(prompt, end="", flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("yes", "是")


def _install_hdd(args: argparse.Namespace) -> int:
    from agent.rescue import hdd  # noqa: PLC0415

    zh = _lang(args) == "zh-CN"
    try:
        with hdd.source_files(args.iso) as files:
            plan = hdd.plan_install(files, args.root)
            print("将写入以下文件（救援系统，约占用磁盘空间如下）：" if zh else "This writes:")
            print("\n".join(plan.describe()))
            print(
                "并在开机菜单加入“RME Rescue / 远程救援”一项。"
                if zh
                else 'and adds the boot menu entry "RME Rescue / 远程救援".'
            )
            if not args.yes and not _confirm("输入 yes 或 是 继续：" if zh else "Type yes or 是 to go on: "):
                print("已取消，什么也没有写。" if zh else "Cancelled: nothing was written.")
                return 1
            hdd.install(plan)
        ran = hdd.regenerate_grub(args.root)
    except hdd.InstallError as exc:
        print(f"rme-agent: {exc}", file=sys.stderr)
        return 1
    if ran is None:
        print(
            "没有找到 update-grub / grub-mkconfig：请手动更新开机菜单。"
            if zh
            else "No update-grub / grub-mkconfig found: regenerate the boot menu by hand."
        )
    print("完成。" if zh else "Done.")
    return 0


def _uninstall_hdd(args: argparse.Namespace) -> int:
    from agent.rescue import hdd  # noqa: PLC0415

    zh = _lang(args) == "zh-CN"
    removed = hdd.uninstall(args.root)
    for path in removed:
        print(("已删除 " if zh else "removed ") + str(path))
    try:
        hdd.regenerate_grub(args.root)
    except hdd.InstallError as exc:
        print(f"rme-agent: {exc}", file=sys.stderr)
        return 1
    if not removed:
        print("硬盘版救援系统未安装。" if zh else "The hard-disk rescue system was not installed.")
    return 0


def _write_usb(args: argparse.Namespace) -> int:
    from agent.rescue import usb  # noqa: PLC0415

    lang = _lang(args)
    if args.list:
        for disk in usb.removable_disks(usb.read_lsblk()):
            print(disk.label())
        return 0
    if not args.iso.is_file():
        print(f"rme-agent: no such image: {args.iso}", file=sys.stderr)
        return 2
    try:
        disk = usb.choose(usb.read_lsblk(), args.device, args.iso.stat().st_size)
        text = usb.T_CONFIRM.render(
            lang, iso=args.iso.name, model=disk.model or "?", size=usb.human_size(disk.size), device=disk.path
        )
        if not _confirm(text):
            print(usb.T_CANCELLED.render(lang))
            return 1

        def bar(done: int, total: int) -> None:
            print("\r" + usb.progress_bar(done, total), end="", file=sys.stderr, flush=True)

        digest = usb.write_and_verify(args.iso, disk, bar)
    except usb.UsbError as exc:
        print("\n" + exc.text.render(lang, **exc.fields), file=sys.stderr)
        return 1
    print("\n" + usb.T_DONE.render(lang, device=disk.path, digest=digest[:16]))
    return 0
