"""`python -m seed --hash`: one SHA-256 over every lab row, table by table, ordered by id.

Password hashes are included: the seed derives each Argon2 salt from the random seed, so they
are as reproducible as the rest. Rows are dumped by COPY in PostgreSQL's text format with the
session time zone pinned to UTC for the transaction.
"""

from __future__ import annotations

import hashlib
from typing import Any

from seed import LAB_MARKER
from seed.state import LAB_TENANTS
from seed.tables import TABLES, TENANT


class _HashSink:
    def __init__(self, digest: Any) -> None:
        self.digest = digest
        self.rows = 0

    def write(self, data: bytes | str) -> int:
        chunk = data.encode() if isinstance(data, str) else data
        self.digest.update(chunk)
        self.rows += chunk.count(b"\n")
        return len(chunk)


def content_hash(cursor: Any) -> tuple[str, int]:
    """(hex digest, rows hashed) of the lab data; run it inside one transaction."""
    cursor.execute("SET LOCAL TIME ZONE 'UTC'")
    digest = hashlib.sha256()
    sink = _HashSink(digest)
    for table in TABLES:
        where = (
            f"generated_by = '{LAB_MARKER}'" if table is TENANT else f"tenant_id IN ({LAB_TENANTS})"
        )
        digest.update(f"-- {table.name}\n".encode())
        cursor.copy_expert(
            f"COPY (SELECT {table.column_list} FROM {table.name} WHERE {where} ORDER BY id) "
            "TO STDOUT",
            sink,
        )
    return digest.hexdigest(), sink.rows
