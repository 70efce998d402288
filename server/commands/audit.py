"""`rme-server audit`: export a session's audit record, verify exports offline, check the whole log.

rme-server audit export SESSION --out DIR   JSON (with proofs) + HTML page for one session
rme-server audit verify FILE [--key KEY]    check an export offline; exit 1 if anything is wrong
rme-server audit verify-log [--deep]        rebuild the whole tree, compare with signed checkpoints
rme-server audit checkpoint                 sign a checkpoint of the log now and print it
rme-server audit key                        print the verifier key to publish to auditors
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from server.audit import NoteVerifier, SessionAuditExport, verify_export
from server.audit.export import ExportFormatError
from server.audit.export_html import render_export_html
from server.audit.note import NoteError
from server.commands._common import AdminContext, add_config_args, run_admin


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit", help="audit log: export, verify, checkpoint"
    )
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    export = commands.add_parser("export", help="write a session's audit record (JSON + HTML)")
    export.add_argument("session", help="session id")
    export.add_argument("--out", type=Path, required=True, help="directory to write the files to")
    add_config_args(export)
    export.set_defaults(handler=run_export)

    verify = commands.add_parser("verify", help="verify a session export offline")
    verify.add_argument("file", type=Path, help="the export's .json file")
    key = verify.add_mutually_exclusive_group()
    key.add_argument("--key", help="the operator's verifier key (name+hash+base64)")
    key.add_argument("--key-file", type=Path, help="a file holding the verifier key")
    verify.set_defaults(handler=run_verify)

    verify_log = commands.add_parser("verify-log", help="recompute the whole log against its checkpoints")
    verify_log.add_argument("--deep", action="store_true", help="also check the query columns of every row")
    add_config_args(verify_log)
    verify_log.set_defaults(handler=run_verify_log)

    checkpoint = commands.add_parser("checkpoint", help="sign and print a checkpoint of the log")
    add_config_args(checkpoint)
    checkpoint.set_defaults(handler=run_checkpoint)

    key_cmd = commands.add_parser("key", help="print the log's verifier key")
    add_config_args(key_cmd)
    key_cmd.set_defaults(handler=run_key)


def _safe_name(session: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", session) or "session"


def run_export(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> SessionAuditExport:
        # The export itself is audited (who pulled which session's record), before it is made.
        await ctx.record("audit.exported", {"session_id": args.session})
        from server.tickets import outputs  # noqa: PLC0415  (only this command needs the store)

        # With the command outputs still retained, checked against the hashes the events hold.
        return await outputs.attach(ctx.engine, await ctx.audit.export_session(args.session))

    export = run_admin(args, work)
    if not export.events:
        print(f"rme-server: no audit events for session {args.session!r}", file=sys.stderr)
        return 1
    report = verify_export(export, export.verifier_key)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / _safe_name(args.session)
    json_path, html_path = stem.with_suffix(".json"), stem.with_suffix(".html")
    json_path.write_text(export.to_json(), encoding="utf-8")
    html_path.write_text(render_export_html(export, report), encoding="utf-8")
    print(f"wrote {json_path} and {html_path} ({len(export.events)} events)")
    print(f"verifier key: {export.verifier_key}")
    return 0 if report.ok else 1


def run_verify(args: argparse.Namespace) -> int:
    try:
        export = SessionAuditExport.from_json(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ExportFormatError) as exc:
        print(f"rme-server: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    key_text = args.key
    if args.key_file is not None:
        key_text = args.key_file.read_text(encoding="utf-8").strip()
    if key_text is None:
        print(
            "warning: no --key given; checking against the key named inside the file, which proves the file "
            "is self-consistent but not who signed it. Pass the operator's published key.",
            file=sys.stderr,
        )
        key_text = export.verifier_key
    try:
        trusted = NoteVerifier.parse(key_text)
    except NoteError as exc:
        print(f"rme-server: bad verifier key: {exc}", file=sys.stderr)
        return 2
    report = verify_export(export, trusted)
    print(report.summary())
    for problem in report.problems:
        print(f"  - {problem}")
    return 0 if report.ok else 1


def run_verify_log(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> bool:
        report = await ctx.audit.verify_log(deep=args.deep)
        print(report.summary())
        for problem in report.problems:
            print(f"  - {problem}")
        return report.ok

    return 0 if run_admin(args, work) else 1


def run_checkpoint(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> str:
        return (await ctx.audit.checkpoint()).note

    print(run_admin(args, work), end="")
    return 0


def run_key(args: argparse.Namespace) -> int:
    async def work(ctx: AdminContext) -> str:
        return ctx.audit.verifier_key

    print(run_admin(args, work))
    return 0
