"""Bulk provisioning for operators: many customers at once from a CSV file, each with a single-use
enrollment code, or — for devices whose key was made at the factory or in a provisioning image — with
the device's public key registered directly (no enrollment round trip).

`parse_rows` checks the whole file before anything is written (bad input is reported by line and loses
nothing); `import_rows` writes every row in one transaction, in batches, so 20,000 rows take seconds,
and a failure leaves the database as it was.

CSV columns (header required; only `name` is mandatory):
`name, ref, subscription, public_key` — `public_key` is the device's Ed25519 key, 32 bytes base64url
(as `rme-agent` prints it); with it the row's result is a device id, without it an enrollment code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast, get_args

from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.auth import b64url_decode
from server.db.tables import customers, devices, enrollment_codes, new_id, utcnow
from server.devices.store import Subscription, _hash, new_code

COLUMNS = ("name", "ref", "subscription", "public_key")
OUT_COLUMNS = ("customer_id", "ref", "name", "code", "device_id")
MAX_ROWS = 1_000_000
BATCH = 1000


class BulkImportError(ValueError):
    """The file cannot be imported; `line` is the 1-based CSV line of the first problem (0: the file)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class Row:
    name: str
    ref: str | None
    subscription: Subscription
    public_key: bytes | None


@dataclass(frozen=True)
class Imported:
    customer_id: str
    ref: str | None
    name: str
    code: str | None  # enrollment code (rows without a public key)
    device_id: str | None  # device registered with its key (rows with one)


def parse_rows(text: str) -> list[Row]:
    """Every row of the CSV `text`, checked; raises `BulkImportError` at the first bad line."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "name" not in reader.fieldnames:
        raise BulkImportError(1, f"the header must name the columns ({', '.join(COLUMNS)}); 'name' needed")
    unknown = set(reader.fieldnames) - set(COLUMNS)
    if unknown:
        raise BulkImportError(1, f"unknown columns: {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    keys: set[bytes] = set()
    allowed = get_args(Subscription)
    for record in reader:
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            raise BulkImportError(line, f"more than {MAX_ROWS} rows: split the file")
        name = (record.get("name") or "").strip()
        if not name or len(name) > 200:
            raise BulkImportError(line, "name must be 1 to 200 characters")
        ref = (record.get("ref") or "").strip() or None
        if ref is not None and len(ref) > 200:
            raise BulkImportError(line, "ref must be at most 200 characters")
        sub = (record.get("subscription") or "active").strip()
        if sub not in allowed:
            raise BulkImportError(line, f"subscription must be one of {', '.join(allowed)}")
        raw_key = (record.get("public_key") or "").strip()
        key: bytes | None = None
        if raw_key:
            try:
                key = b64url_decode(raw_key)
            except ValueError:
                key = None
            if key is None or len(key) != 32:
                raise BulkImportError(line, "public_key must be an Ed25519 key: 32 bytes, base64url")
            if key in keys:
                raise BulkImportError(line, "the same public_key appears twice")
            keys.add(key)
        rows.append(Row(name, ref, cast("Subscription", sub), key))  # checked against `allowed` above
    if not rows:
        raise BulkImportError(0, "the file has no rows")
    return rows


async def import_rows(engine: AsyncEngine, rows: list[Row], created_by: str, ttl: int) -> list[Imported]:
    """Create every row's customer and its code (or device) in one transaction."""
    now = utcnow()
    expires = now + dt.timedelta(seconds=ttl)
    out: list[Imported] = []
    customer_rows: list[dict[str, object]] = []
    code_rows: list[dict[str, object]] = []
    device_rows: list[dict[str, object]] = []
    for row in rows:
        customer_id = new_id("c")
        customer_rows.append(
            {
                "id": customer_id,
                "name": row.name,
                "subscription": row.subscription,
                "external_ref": row.ref,
                "created_at": now,
            }
        )
        if row.public_key is None:
            code = new_code()
            code_rows.append(
                {
                    "code_hash": _hash(code),
                    "customer_id": customer_id,
                    "created_by": created_by,
                    "created_at": now,
                    "expires_at": expires,
                }
            )
            out.append(Imported(customer_id, row.ref, row.name, code, None))
        else:
            device_id = new_id("d")
            device_rows.append(
                {
                    "id": device_id,
                    "customer_id": customer_id,
                    "name": row.name,
                    "public_key": row.public_key,
                    "enrolled_at": now,
                }
            )
            out.append(Imported(customer_id, row.ref, row.name, None, device_id))
    async with engine.begin() as conn:
        tables = ((customers, customer_rows), (enrollment_codes, code_rows), (devices, device_rows))
        for table, values in tables:
            for start in range(0, len(values), BATCH):
                await conn.execute(table.insert(), values[start : start + BATCH])
    return out


def write_results(results: Iterable[Imported]) -> str:
    """The result CSV: one line a row, in the input's order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(OUT_COLUMNS)
    for r in results:
        writer.writerow([r.customer_id, r.ref or "", r.name, r.code or "", r.device_id or ""])
    return buffer.getvalue()


__all__ = [
    "COLUMNS",
    "OUT_COLUMNS",
    "BulkImportError",
    "Imported",
    "Row",
    "import_rows",
    "parse_rows",
    "write_results",
]
