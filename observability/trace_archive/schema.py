"""The span archive's Parquet schema (docs/architecture.md, "Span archive schema")."""

from __future__ import annotations

import pyarrow as pa

SPAN_SCHEMA = pa.schema(
    [
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("span_id", pa.string(), nullable=False),
        pa.field("parent_span_id", pa.string()),
        pa.field("name", pa.string(), nullable=False),
        pa.field("service_name", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("start_unix_ns", pa.int64(), nullable=False),
        pa.field("end_unix_ns", pa.int64(), nullable=False),
        pa.field("status_code", pa.string(), nullable=False),
        pa.field("run_id", pa.string()),
        pa.field("http_route", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("db_system", pa.string()),
        pa.field("db_statement", pa.string()),
        pa.field("attributes", pa.string(), nullable=False),
    ]
)

COLUMNS: tuple[str, ...] = tuple(SPAN_SCHEMA.names)

# Folder name for spans that carry no (usable) run id.
UNASSIGNED_RUN = "_unassigned"
