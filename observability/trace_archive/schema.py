"""The span archive's column names and folders; the schema itself is lab.schemas (one contract)."""

from __future__ import annotations

from lab.schemas import SPAN_SCHEMA

COLUMNS: tuple[str, ...] = tuple(SPAN_SCHEMA.names)

# Folder name for spans that carry no (usable) run id.
UNASSIGNED_RUN = "_unassigned"
# Folder for spans whose run folder cannot be written (the run id names a file, ...).
QUARANTINE_RUN = "_quarantine"
