"""Secondary indexes and constraints of the big tables: dropped before COPY, rebuilt after.

Maintaining six indexes (two of them trigram GIN) and row-by-row foreign-key checks during a
million-row COPY costs far more than building each index once and validating each foreign key
with one join afterwards. Everything happens inside the load's transaction, so a failure rolls
the schema back with the data. Definitions are read from the catalog (pg_get_indexdef,
pg_get_constraintdef), so a new migration's index is rebuilt too, never lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from seed.progress import LoadFigures, log
from seed.tables import Table

_CONSTRAINTS = """
SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint
WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC, conname
"""
# Indexes that are not the primary key and do not back a constraint (those go with it).
_INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                  AND k.conrelid = i.indrelid)
ORDER BY c.relname
"""


@dataclass(frozen=True)
class Deferred:
    table: Table
    kind: str  # "index", "unique" or "foreign key"
    name: str
    definition: str

    def create_sql(self) -> str:
        if self.kind == "index":
            return self.definition
        return f'ALTER TABLE {self.table.name} ADD CONSTRAINT "{self.name}" {self.definition}'

    def drop_sql(self) -> str:
        if self.kind == "index":
            return f'DROP INDEX "{self.name}"'
        return f'ALTER TABLE {self.table.name} DROP CONSTRAINT "{self.name}"'


def drop_secondary(cursor: Any, tables: tuple[Table, ...]) -> list[Deferred]:
    deferred: list[Deferred] = []
    for table in tables:
        cursor.execute(_CONSTRAINTS, [table.name])
        for name, definition, kind in cursor.fetchall():
            deferred.append(
                Deferred(table, "unique" if kind == "u" else "foreign key", name, definition)
            )
        cursor.execute(_INDEXES, [table.name])
        deferred.extend(Deferred(table, "index", name, sql) for name, sql in cursor.fetchall())
    # Foreign keys first: a unique constraint cannot go while a key still needs it.
    for item in sorted(deferred, key=lambda d: d.kind != "foreign key"):
        cursor.execute(item.drop_sql())
    log(f"dropped {len(deferred)} secondary indexes and constraints of the big tables for the load")
    return deferred


def recreate(cursor: Any, deferred: list[Deferred], figures: LoadFigures) -> None:
    # Index builds sort in memory: give them room (transaction-scoped, fine through PgBouncer).
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    # Indexes and unique constraints first, then the foreign keys they may speed up.
    ordered = sorted(deferred, key=lambda d: d.kind == "foreign key")
    for item in ordered:
        started = time.monotonic()
        cursor.execute(item.create_sql())
        seconds = time.monotonic() - started
        figures.tables[item.table].rebuild_seconds += seconds
        if seconds >= 1.0:
            log(f"rebuilt {item.kind} {item.name} on {item.table.name} in {seconds:.1f} s")
    log(f"rebuilt {len(deferred)} indexes and constraints")
