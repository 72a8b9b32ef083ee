"""What the database holds: reachable, migrated, lab data, foreign data; ids; reset.

All statements run inside the caller's transaction and keep no session state (no temp tables,
no session SET), so they work through PgBouncer in transaction mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import DatabaseError, OperationalError

from seed import LAB_MARKER
from seed.generate import SALE_NUMBER_PREFIX, SeedError
from seed.progress import log
from seed.tables import (
    BRANCH,
    CUSTOMER,
    ITEM,
    SALE,
    TABLES,
    TENANT,
    TERMINAL,
    USER,
    USER_LINK_TABLES,
)

LAB_TENANTS = f"SELECT id FROM {TENANT.name} WHERE generated_by = '{LAB_MARKER}'"
# Serialises concurrent seeds (transaction-scoped: released at commit, fine through PgBouncer).
ADVISORY_LOCK = "SELECT pg_advisory_xact_lock(hashtext('jewelry-lab-seed'))"


def check_reachable(alias: str = DEFAULT_DB_ALIAS) -> None:
    connection = connections[alias]
    try:
        connection.ensure_connection()
    except OperationalError as error:
        settings = connection.settings_dict
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SeedError(
            f"cannot reach the database {settings['NAME']!r} at {settings['HOST']}:"
            f"{settings['PORT']} ({reason}): start PostgreSQL or set DATABASE_HOST/PORT/NAME/USER"
        ) from None


def check_migrated(alias: str = DEFAULT_DB_ALIAS) -> None:
    connection = connections[alias]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        raise SeedError(f"cannot read the migration state: {error}".splitlines()[0]) from None
    if plan:
        raise SeedError(
            f"the database schema is not migrated ({len(plan)} migrations pending): "
            "run `python app/manage.py migrate` first"
        )


@dataclass(frozen=True)
class DatabaseState:
    lab_slugs: list[str]
    lab_tenant_ids: list[int]
    foreign_tenants: int


def read_state(cursor: Any) -> DatabaseState:
    cursor.execute(
        f"SELECT id, slug FROM {TENANT.name} WHERE generated_by = %s ORDER BY id", [LAB_MARKER]
    )
    rows = cursor.fetchall()
    cursor.execute(f"SELECT count(*) FROM {TENANT.name} WHERE generated_by <> %s", [LAB_MARKER])
    foreign = cursor.fetchone()[0]
    return DatabaseState(
        [slug for _id, slug in rows], [tenant_id for tenant_id, _ in rows], foreign
    )


def lab_counts(cursor: Any) -> dict[str, int]:
    """The volumes that identify a seeding; sales the app added later (numbered S-…) are not."""
    counts = {}
    for table, key in ((USER, "users"), (BRANCH, "branches"), (TERMINAL, "terminals"),
                       (ITEM, "items"), (CUSTOMER, "customers")):  # fmt: skip
        cursor.execute(f"SELECT count(*) FROM {table.name} WHERE tenant_id IN ({LAB_TENANTS})")
        counts[key] = cursor.fetchone()[0]
    cursor.execute(
        f"SELECT count(*) FROM {SALE.name} WHERE tenant_id IN ({LAB_TENANTS}) AND number LIKE %s",
        [SALE_NUMBER_PREFIX + "%"],
    )
    counts["sales"] = cursor.fetchone()[0]
    return counts


def lock(cursor: Any) -> None:
    cursor.execute(ADVISORY_LOCK)
    # Nobody else writes while ids are assigned from MAX(id) (the seed runs before the load).
    names = ", ".join(table.name for table in TABLES)
    cursor.execute(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")


def next_ids(cursor: Any) -> dict:
    ids = {}
    for table in TABLES:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}")
        ids[table] = cursor.fetchone()[0]
    return ids


def advance_sequences(cursor: Any) -> None:
    """Point each id sequence past the ids the seed assigned, so the app's inserts never clash."""
    for table in TABLES:
        sequence = _sequence(cursor, table.name)
        cursor.execute(
            f"SELECT setval(%s, GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table.name}), "
            f"(SELECT last_value FROM {sequence}), 1))",
            [sequence],
        )


def _sequence(cursor: Any, table: str) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    name = cursor.fetchone()[0]
    if not name:
        raise SeedError(f"{table}.id has no sequence: is the schema the app's?")
    return name


def reset(cursor: Any, state: DatabaseState) -> None:
    """Delete the lab tenants and everything under them, children first."""
    owned = [table for table in reversed(TABLES) if table not in (TENANT, USER)]
    if state.foreign_tenants == 0:
        # Every tenant-owned row is lab data: TRUNCATE is instant where DELETE scans and logs.
        cursor.execute(f"TRUNCATE {', '.join(table.name for table in owned)}")
        log(f"truncated {len(owned)} tenant-owned tables (no other tenants in the database)")
    else:
        for table in owned:
            cursor.execute(f"DELETE FROM {table.name} WHERE tenant_id IN ({LAB_TENANTS})")
            log(f"deleted {cursor.rowcount:,} rows from {table.name}")
    lab_users = f"SELECT id FROM {USER.name} WHERE tenant_id IN ({LAB_TENANTS})"
    for link in USER_LINK_TABLES:
        cursor.execute(f"DELETE FROM {link} WHERE user_id IN ({lab_users})")
    cursor.execute(f"DELETE FROM {USER.name} WHERE tenant_id IN ({LAB_TENANTS})")
    log(f"deleted {cursor.rowcount:,} lab users")
    cursor.execute(f"DELETE FROM {TENANT.name} WHERE generated_by = %s", [LAB_MARKER])
    log(f"deleted {cursor.rowcount:,} lab tenants")
    # Run the deferred foreign-key checks of these deletes now: a load in the same transaction
    # (--replace) cannot ALTER a table that still has pending trigger events.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
