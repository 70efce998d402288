"""Database-side guards that make the audit tables append-only, as DDL per dialect.

The application never updates or deletes audit rows, so the database refuses it outright: a bug,
a careless admin or an attacker with the server's SQL credentials cannot quietly rewrite history
through ordinary statements. A second trigger refuses an `audit_events` row whose `leaf_index` is
not exactly the next one, so the leaf sequence stays gapless whatever writes to it.

Triggers are not the last line: someone who can drop them can edit rows, which the full-log verifier
(`verify_log`) detects against the signed checkpoints.
"""

from __future__ import annotations

__all__ = [
    "APPEND_ONLY_TABLES",
    "LATER_TABLES",
    "create_triggers_ddl",
    "drop_table_triggers_ddl",
    "drop_triggers_ddl",
    "table_triggers_ddl",
]

APPEND_ONLY_TABLES = ("audit_events", "audit_nodes", "audit_checkpoints")
# Added by revision 0008_audit_witness; its triggers are made by `table_triggers_ddl`.
LATER_TABLES = ("audit_cosignatures",)
APPEND_ONLY_MESSAGE = "audit log is append-only"


def _sqlite_create() -> list[str]:
    statements: list[str] = []
    for table in APPEND_ONLY_TABLES:
        for operation in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {operation} on {table}'); END"
            )
    statements.append(
        "CREATE TRIGGER audit_events_gapless BEFORE INSERT ON audit_events "
        "WHEN NEW.leaf_index <> (SELECT COALESCE(MAX(leaf_index), -1) + 1 FROM audit_events) "
        "BEGIN SELECT RAISE(ABORT, 'audit leaf_index must be the next index'); END"
    )
    return statements


def _sqlite_drop() -> list[str]:
    statements = [
        f"DROP TRIGGER IF EXISTS {table}_no_{operation}"
        for table in APPEND_ONLY_TABLES
        for operation in ("update", "delete")
    ]
    statements.append("DROP TRIGGER IF EXISTS audit_events_gapless")
    for table in LATER_TABLES:  # gone already when 0002 is downgraded; IF EXISTS needs no table here
        statements += [f"DROP TRIGGER IF EXISTS {table}_no_{operation}" for operation in ("update", "delete")]
    return statements


def _postgresql_create() -> list[str]:
    statements = [
        "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: % on %', TG_OP, TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege'; END $$",
        # Row-level BEFORE triggers see rows inserted earlier by the same statement, so multi-row
        # INSERTs are checked row by row too.
        "CREATE OR REPLACE FUNCTION audit_check_gapless() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NEW.leaf_index <> (SELECT COALESCE(MAX(leaf_index), -1) + 1 FROM audit_events) THEN "
        "RAISE EXCEPTION 'audit leaf_index must be the next index' "
        "USING ERRCODE = 'integrity_constraint_violation'; END IF; RETURN NEW; END $$",
    ]
    for table in APPEND_ONLY_TABLES:
        statements.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        statements.append(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )
    statements.append(
        "CREATE TRIGGER audit_events_gapless BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_check_gapless()"
    )
    return statements


def _postgresql_drop() -> list[str]:
    statements = []
    for table in APPEND_ONLY_TABLES:
        statements.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        statements.append(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    statements.append("DROP TRIGGER IF EXISTS audit_events_gapless ON audit_events")
    statements.append("DROP FUNCTION IF EXISTS audit_check_gapless()")
    # CASCADE: the later tables' triggers use this function too.
    statements.append("DROP FUNCTION IF EXISTS audit_refuse_change() CASCADE")
    return statements


def create_triggers_ddl(dialect: str) -> list[str]:
    """The statements that install the guards of revision 0002 on `dialect` ("sqlite" or "postgresql")."""
    if dialect == "sqlite":
        return _sqlite_create()
    if dialect == "postgresql":
        return _postgresql_create()
    raise ValueError(f"no audit triggers for database dialect {dialect!r}")


def table_triggers_ddl(dialect: str, table: str) -> list[str]:
    """Append-only guards for one later table (its revision runs after 0002 made the function)."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {operation} on {table}'); END"
            for operation in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
        ]
    raise ValueError(f"no audit triggers for database dialect {dialect!r}")


def drop_table_triggers_ddl(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{operation}" for operation in ("update", "delete")]
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    ]


def drop_triggers_ddl(dialect: str) -> list[str]:
    """The statements that remove the guards (for the migration's downgrade)."""
    if dialect == "sqlite":
        return _sqlite_drop()
    if dialect == "postgresql":
        return _postgresql_drop()
    raise ValueError(f"no audit triggers for database dialect {dialect!r}")
