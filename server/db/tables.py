"""The server's core tables (accounts, customers, devices, tickets, sessions), on the shared `metadata`.

Ids are short random strings (`new_id`), never sequential integers: they appear in URLs and in the
protocol, and guessable ids invite enumeration. Times are timezone-aware UTC. The audit tables live in
`server.audit` on the same metadata; revision `0001_core` creates these, `0002_audit` those, `0003_nodes`
the node rows and tickets' owning node, `0004_command_outputs` the kept command outputs.
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa

from server.db.base import metadata

ROLES = ("engineer", "supervisor", "admin")
SUBSCRIPTIONS = ("active", "suspended", "cancelled")
TICKET_STATES = ("queued", "accepted", "offered", "active", "ended")


def new_id(prefix: str) -> str:
    """A random id like `t_3f9c0a…`: 80 bits, the prefix says what kind of thing it names."""
    return f"{prefix}_{secrets.token_hex(10)}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


Time = sa.DateTime(timezone=True)

engineers = sa.Table(
    "engineers",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(128), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("totp_secret", sa.String(64), nullable=True),
    sa.Column("totp_enabled", sa.Boolean, nullable=False, default=False),
    sa.Column("totp_last_step", sa.BigInteger, nullable=False, default=0),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", Time, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.CheckConstraint(_in("role", ROLES), name="role"),
)

# Server-side login sessions. Only the SHA-256 of the cookie value is stored, so a copy of the
# database does not let anyone log in.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("engineer_id", sa.String(32), sa.ForeignKey("engineers.id"), nullable=False, index=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("external_ref", sa.String(128), nullable=True, unique=True),
    sa.Column("subscription", sa.String(16), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.CheckConstraint(_in("subscription", SUBSCRIPTIONS), name="subscription"),
)

enrollment_codes = sa.Table(
    "enrollment_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(32), sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("used_at", Time, nullable=True),
    sa.Column("device_id", sa.String(32), nullable=True),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("customer_id", sa.String(32), sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("public_key", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("enrolled_at", Time, nullable=False),
    sa.Column("revoked_at", Time, nullable=True),
    sa.Column("last_seen", Time, nullable=True),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("device_id", sa.String(32), sa.ForeignKey("devices.id"), nullable=False, index=True),
    sa.Column("customer_id", sa.String(32), sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("user_words", sa.Text, nullable=False),
    sa.Column("report", sa.JSON, nullable=True),
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("engineer_id", sa.String(32), sa.ForeignKey("engineers.id"), nullable=True),
    sa.Column("session_id", sa.String(32), nullable=True, unique=True),
    sa.Column("accepted_at", Time, nullable=True),
    sa.Column("started_at", Time, nullable=True),
    sa.Column("ended_at", Time, nullable=True),
    sa.Column("outcome", sa.String(24), nullable=True),
    sa.Column("resolution", sa.String(64), nullable=True),
    sa.Column("satisfaction", sa.Integer, nullable=True),
    # The server node whose agent link holds the ticket (`nodes.id`, no foreign key: a dead node's row
    # is deleted while its tickets keep naming it). NULL: created before revision 0003_nodes.
    sa.Column("node_id", sa.String(32), nullable=True, index=True),
    sa.CheckConstraint(_in("state", TICKET_STATES), name="state"),
    sa.CheckConstraint("satisfaction IS NULL OR (satisfaction BETWEEN 1 AND 5)", name="satisfaction"),
)

# One row per running server node: its random id, chosen at start, and when it last said it was alive
# (`server.relay.nodes`). A row whose `seen_at` is older than `node_dead_after` names a dead node.
nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("seen_at", Time, nullable=False),
)

# Command outputs, kept beside the append-only audit log (which records only their SHA-256 and size)
# until `expires_at` (`output_retention_days`), then deleted by the server (`server.tickets.outputs`).
command_outputs = sa.Table(
    "command_outputs",
    metadata,
    sa.Column("session_id", sa.String(32), primary_key=True),
    sa.Column("message_id", sa.String(64), primary_key=True),  # the `action.result` that carried it
    sa.Column("action_id", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False, index=True),
)
