"""`rme-server audit`: export a session's audit record, verify exports offline, check the whole log.

rme-server audit export SESSION --out DIR   JSON (with proofs) + HTML page for one session
rme-server audit verify FILE [--key KEY]    check an export offline; exit 1 if anything is wrong
rme-server audit verify --receipt FILE [--html PAGE]   check a user's signed service receipt (事后可查)
                                            offline; PAGE: an offline page that checks it in a browser
rme-server audit verify-log [--deep]        rebuild the whole tree, compare with signed checkpoints,
                                            witness cosignatures and the witness's own latest
rme-server audit checkpoint                 sign a checkpoint of the log now (and have it witnessed)
rme-server audit key                        print the verifier key to publish to auditors
rme-server audit witness --log KEY          run a witness that cosigns consistent checkpoints
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.commands._common import add_config_args

# The audit machinery is imported by each action, not here: `rme-server --help` registers every
# command and must not pay for SQLAlchemy and cryptography.
if TYPE_CHECKING:
    from server.audit import NoteVerifier, SessionAuditExport
    from server.commands._common import AdminContext


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

    verify = commands.add_parser("verify", help="verify a session export (or a service receipt) offline")
    verify.add_argument("file", type=Path, nargs="?", help="the export's .json file")
    verify.add_argument("--receipt", type=Path, help="a service receipt (rme-service-receipt/1) to verify")
    verify.add_argument(
        "--html", type=Path, help="with --receipt: also write an offline page that verifies it in a browser"
    )
    key = verify.add_mutually_exclusive_group()
    key.add_argument("--key", help="the operator's verifier key (name+hash+base64)")
    key.add_argument("--key-file", type=Path, help="a file holding the verifier key")
    verify.set_defaults(handler=run_verify)

    verify_log = commands.add_parser(
        "verify-log",
        help="recompute the whole log against its checkpoints; exit 1 if anything is not proven",
    )
    verify_log.add_argument("--deep", action="store_true", help="also check the query columns of every row")
    log_key = verify_log.add_mutually_exclusive_group()
    log_key.add_argument("--key", help="the log's published verifier key (default: this server's own key)")
    log_key.add_argument("--key-file", type=Path, help="a file holding the log's verifier key")
    verify_log.add_argument(
        "--witness-key",
        action="append",
        default=None,
        help="a witness's verifier key to trust (repeatable; default: audit_witness_key from the config)",
    )
    verify_log.add_argument(
        "--witness-url", help="also check the witness's own latest checkpoint (default: audit_witness_url)"
    )
    verify_log.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="a checkpoint kept elsewhere the log must also match: a note, or a user's evidence file "
        "(repeatable)",
    )
    add_config_args(verify_log)
    verify_log.set_defaults(handler=run_verify_log)

    witness = commands.add_parser(
        "witness", help="run a witness: cosign the log's checkpoints only when consistent with the last"
    )
    witness.add_argument("--state-dir", type=Path, required=True, help="the witness's own key and state")
    witness.add_argument("--name", default="rme-witness", help="the witness's key name (first run only)")
    witness.add_argument(
        "--log", action="append", default=[], help="verifier key of a log to witness (repeatable)"
    )
    witness.add_argument("--host", default="127.0.0.1")
    witness.add_argument("--port", type=int, default=8444, help="0 picks a free port (printed)")
    witness.add_argument("--print-key", action="store_true", help="print the witness's verifier key and exit")
    witness.set_defaults(handler=run_witness)

    checkpoint = commands.add_parser("checkpoint", help="sign and print a checkpoint of the log")
    add_config_args(checkpoint)
    checkpoint.set_defaults(handler=run_checkpoint)

    key_cmd = commands.add_parser("key", help="print the log's verifier key")
    add_config_args(key_cmd)
    key_cmd.set_defaults(handler=run_key)


def _safe_name(session: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", session) or "session"


def run_export(args: argparse.Namespace) -> int:
    from server.audit import verify_export  # noqa: PLC0415
    from server.audit.export_html import render_export_html  # noqa: PLC0415
    from server.commands._common import run_admin  # noqa: PLC0415

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
    from server.audit import SessionAuditExport, verify_export  # noqa: PLC0415
    from server.audit.export import ExportFormatError  # noqa: PLC0415

    if args.receipt is not None or args.file is None:
        return _verify_receipt(args)
    try:
        text = args.file.read_text(encoding="utf-8")
        if '"rme-service-receipt/1"' in text[:200]:
            args.receipt = args.file
            return _verify_receipt(args)
        export = SessionAuditExport.from_json(text)
    except (OSError, UnicodeDecodeError, ExportFormatError) as exc:
        print(f"rme-server: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    trusted = _trusted_key(args, export.verifier_key)
    if trusted is None:
        return 2
    report = verify_export(export, trusted)
    print(report.summary())
    for problem in report.problems:
        print(f"  - {problem}")
    return 0 if report.ok else 1


def _trusted_key(args: argparse.Namespace, named: str) -> NoteVerifier | None:
    """The key to check against: --key or --key-file, else (with a warning) the one the file names."""
    from server.audit import NoteVerifier  # noqa: PLC0415
    from server.audit.note import NoteError  # noqa: PLC0415

    key_text = args.key
    if args.key_file is not None:
        key_text = args.key_file.read_text(encoding="utf-8").strip()
    if key_text is None:
        print(
            "warning: no --key given; checking against the key named inside the file, which proves the file "
            "is self-consistent but not who signed it. Pass the operator's published key.",
            file=sys.stderr,
        )
        key_text = named
    try:
        return NoteVerifier.parse(key_text)
    except NoteError as exc:
        print(f"rme-server: bad verifier key: {exc}", file=sys.stderr)
        return None


def _verify_receipt(args: argparse.Namespace) -> int:
    from server.billing.receipt import verify_receipt  # noqa: PLC0415

    if args.receipt is None:
        print("rme-server: give an export FILE or --receipt FILE", file=sys.stderr)
        return 2
    try:
        text = args.receipt.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"rme-server: cannot read {args.receipt}: {exc}", file=sys.stderr)
        return 2
    try:
        named = str(json.loads(text)["audit"]["verifier_key"])
    except (ValueError, KeyError, TypeError):
        named = ""
    trusted = _trusted_key(args, named)
    if trusted is None:
        return 2
    report = verify_receipt(text, trusted)
    if args.html is not None:
        from server.billing.receipt_page import render_receipt_page  # noqa: PLC0415

        args.html.write_text(render_receipt_page(text, str(trusted)), encoding="utf-8")
    print(report.summary())
    for problem in report.problems:
        print(f"  - {problem}")
    return 0 if report.ok else 1


def _checkpoint_note(path: Path) -> str:
    """A signed checkpoint note, from a note file or from a user's evidence file (`rme-agent evidence`)."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        note = json.loads(text)["evidence"]["checkpoint"]
        if not isinstance(note, str):
            raise ValueError(f"{path}: no checkpoint in this evidence file")
        return note
    return text


def _read_key(text: str | None, path: Path | None) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path is not None else text


def run_verify_log(args: argparse.Namespace) -> int:
    from server.audit import NoteVerifier  # noqa: PLC0415
    from server.audit.cosign import WitnessVerifier  # noqa: PLC0415
    from server.audit.note import NoteError  # noqa: PLC0415
    from server.audit.verify_log import ExternalCheckpoint  # noqa: PLC0415
    from server.audit.witness_client import fetch_latest  # noqa: PLC0415
    from server.commands._common import run_admin  # noqa: PLC0415

    try:
        key_text = _read_key(args.key, args.key_file)
        trusted = NoteVerifier.parse(key_text) if key_text else None
        externals = [ExternalCheckpoint(f"file {path}", _checkpoint_note(path)) for path in args.checkpoint]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2

    async def work(ctx: AdminContext) -> bool:
        config = ctx.config
        key_texts = args.witness_key
        if key_texts is None:
            key_texts = [config.audit_witness_key] if config.audit_witness_key else []
        witnesses = [WitnessVerifier.parse(text) for text in key_texts]
        if trusted is None:
            print(
                "note: checking against this server's own signing key; pass --key with the published key "
                "to check against that instead",
                file=sys.stderr,
            )
        url = args.witness_url or config.audit_witness_url
        if url:
            try:
                latest = await fetch_latest(url, ctx.audit.origin)
            except Exception as exc:  # any network trouble: reported, and the check is then incomplete
                print(f"rme-server: could not ask the witness at {url}: {exc}", file=sys.stderr)
                return False
            if latest is not None:
                externals.append(ExternalCheckpoint(f"witness at {url}", latest))
        report = await ctx.audit.verify_log(
            deep=args.deep, trusted=trusted, witnesses=witnesses, external=externals
        )
        print(report.summary())
        for problem in report.problems:
            print(f"  - {problem}")
        for gap in report.unproven:
            print(f"  - unproven: {gap}")
        return report.ok

    try:
        return 0 if run_admin(args, work) else 1
    except NoteError as exc:
        print(f"rme-server: bad witness key: {exc}", file=sys.stderr)
        return 2


def run_witness(args: argparse.Namespace) -> int:
    from server.audit.cosign import CosignerKey  # noqa: PLC0415
    from server.audit.note import NoteError, NoteVerifier  # noqa: PLC0415
    from server.audit.witness import WITNESS_KEY_FILE, Witness  # noqa: PLC0415
    from server.audit.witness_http import serve_witness  # noqa: PLC0415

    try:
        key = CosignerKey.load_or_create(args.state_dir / WITNESS_KEY_FILE, args.name)
        if args.print_key:
            print(key.verifier)
            return 0
        logs = [NoteVerifier.parse(text) for text in args.log]
    except (OSError, NoteError) as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2
    if not logs:
        print("rme-server: name at least one log to witness with --log KEY", file=sys.stderr)
        return 2
    witness = Witness(args.state_dir, key, logs)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_witness(witness, args.host, args.port))
    return 0


def run_checkpoint(args: argparse.Namespace) -> int:
    from server.commands._common import run_admin  # noqa: PLC0415

    async def work(ctx: AdminContext) -> str:
        signed = await ctx.audit.checkpoint()
        if ctx.audit.witness is not None:
            await ctx.audit.witness.cosign(ctx.audit, signed)
        return signed.note + "".join(await ctx.audit.cosignatures(signed.checkpoint.size))

    print(run_admin(args, work), end="")
    return 0


def run_key(args: argparse.Namespace) -> int:
    from server.commands._common import run_admin  # noqa: PLC0415

    async def work(ctx: AdminContext) -> str:
        return ctx.audit.verifier_key

    print(run_admin(args, work))
    return 0
