"""The server's core tables (accounts, customers, devices, tickets, sessions), on the shared `metadata`.

Ids are short random strings (`new_id`), never sequential integers: they appear in URLs and in the
protocol, and guessable ids invite enumeration. Times are timezone-aware UTC. The audit tables live in
`server.audit` on the same metadata; revision `0001_core` creates these, `0002_audit` those, `0003_nodes`
the node rows and tickets' owning node, `0004_command_outputs` the kept command outputs.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import overload

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


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A time read back from the database, as aware UTC: SQLite drops the zone that PostgreSQL keeps."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    """A database time as ISO 8601 with its UTC offset, for JSON."""
    return None if value is None else aware(value).isoformat()


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
    # The account's language (zh-CN or en): what the SSH gateway's prompt speaks (revision 0010).
    sa.Column("lang", sa.String(8), nullable=False, server_default="zh-CN"),
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
    # The service item the user chose when calling for help (`service_items.code`; no foreign key: an
    # item retired from the catalogue keeps its old tickets). NULL: none chosen, or before 0006.
    sa.Column("service_item", sa.String(64), nullable=True),
    sa.CheckConstraint(_in("state", TICKET_STATES), name="state"),
    sa.CheckConstraint("satisfaction IS NULL OR (satisfaction BETWEEN 1 AND 5)", name="satisfaction"),
    # Entitlement counts a customer's sessions started this month at every help request (0009).
    sa.Index("ix_tickets_customer_started", "customer_id", "started_at"),
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

# Engineer consoles online, as spans (`server.kpi.presence`): each node samples the consoles it holds
# every `presence_period` seconds and stretches the engineer's open span (or starts one). The weekly
# report compares these with the engineers the load needed. A span ends at its last sample.
engineer_presence = sa.Table(
    "engineer_presence",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("engineer_id", sa.String(32), nullable=False),
    sa.Column("node_id", sa.String(32), nullable=False),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("seen_at", Time, nullable=False, index=True),
    sa.Index("ix_engineer_presence_engineer_node", "engineer_id", "node_id"),
)

# The supervisor's alerts (`server.kpi.alerts`): a threshold per kind (NULL: off) and whether it is
# raised now. Nodes move `active` by compare-and-set, so exactly one node announces each change.
ALERT_KINDS = ("response_time", "queue_length")
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("kind", sa.String(24), primary_key=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, default=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("changed_at", Time, nullable=True),
    sa.Column("changed_by", sa.String(64), nullable=True),
    sa.CheckConstraint(_in("kind", ALERT_KINDS), name="kind"),
)

# Canned chat replies for engineers (`server.web.desk_routes`), in both languages; supervisors edit them.
canned_replies = sa.Table(
    "canned_replies",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("text_zh", sa.String(1000), nullable=False),
    sa.Column("text_en", sa.String(1000), nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
)

# ---- billing (`server.billing`): the operator's BSS provisions subscriptions, billing events leave
# through an outbox ------------------------------------------------------------------------------

SUBSCRIPTION_KINDS = ("bundled", "standalone")

# What a plan gives: which service items it includes, how many sessions a month (NULL: no limit),
# and whether items outside it may be bought.
plans = sa.Table(
    "plans",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name_zh", sa.String(128), nullable=False),
    sa.Column("name_en", sa.String(128), nullable=False),
    sa.Column("sessions_per_month", sa.Integer, nullable=True),
    sa.Column("extras_allowed", sa.Boolean, nullable=False),
    sa.Column("monthly_fee_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
)

service_items = sa.Table(
    "service_items",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name_zh", sa.String(128), nullable=False),
    sa.Column("name_en", sa.String(128), nullable=False),
    sa.Column("description_zh", sa.String(1000), nullable=False),
    sa.Column("description_en", sa.String(1000), nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("expected_minutes", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

plan_items = sa.Table(
    "plan_items",
    metadata,
    sa.Column("plan_code", sa.String(64), sa.ForeignKey("plans.code"), primary_key=True),
    sa.Column("item_code", sa.String(64), sa.ForeignKey("service_items.code"), primary_key=True),
)

# A customer's subscription as the BSS last set it. `state_at` is the BSS's time of the newest
# applied change: an older change arriving late is acknowledged and ignored.
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("customer_id", sa.String(32), sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("plan_code", sa.String(64), sa.ForeignKey("plans.code"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("state_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.CheckConstraint(_in("kind", SUBSCRIPTION_KINDS), name="kind"),
    sa.CheckConstraint(_in("status", SUBSCRIPTIONS), name="status"),
)

# One BSS integration: its shared secrets (two during a rotation), enabled or not.
bss_integrations = sa.Table(
    "bss_integrations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("previous_secret", sa.String(128), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

# Every signed inbound request by `webhook-id`, with the answer given: a repeat gets the same answer
# and changes nothing.
bss_requests = sa.Table(
    "bss_requests",
    metadata,
    sa.Column("webhook_id", sa.String(128), primary_key=True),
    sa.Column("integration_id", sa.String(32), nullable=False),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("answer", sa.JSON, nullable=False),
)

# Where billing events go (the operator's billing system), each with its signing secret.
billing_endpoints = sa.Table(
    "billing_endpoints",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("url", sa.String(1000), nullable=False),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

# The transactional outbox: a row per event and endpoint, written in the same transaction as the
# change it reports. `id` is the event's stable `webhook-id`.
OUTBOX_STATES = ("pending", "delivered", "dead")
billing_outbox = sa.Table(
    "billing_outbox",
    metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("endpoint_id", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Time, nullable=False),
    sa.Column("delivered_at", Time, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Index("ix_billing_outbox_due", "state", "next_attempt_at"),
    sa.CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
)

# The SSH gateway (`server.ssh`): an engineer's registered OpenSSH public keys (`kind` "key") and the
# certificates the server signed for them (`kind` "cert", with its serial and expiry). A revoked row
# (`revoked_at`) no longer logs anyone in. `fingerprint` is OpenSSH's `SHA256:…` of the (certified) key.
SSH_KEY_KINDS = ("key", "cert")
ssh_keys = sa.Table(
    "ssh_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("engineer_id", sa.String(32), sa.ForeignKey("engineers.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("comment", sa.String(200), nullable=False),
    sa.Column("serial", sa.BigInteger, nullable=True),
    sa.Column("valid_before", Time, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("revoked_at", Time, nullable=True),
    sa.CheckConstraint(_in("kind", SSH_KEY_KINDS), name="kind"),
)


# The customer-months whose `usage.summary` was written (`server.billing.usage`): the primary key makes
# summarising idempotent, however many nodes or operators run it.
billing_usage = sa.Table(
    "billing_usage",
    metadata,
    sa.Column("customer_id", sa.String(32), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("created_at", Time, nullable=False),
)
