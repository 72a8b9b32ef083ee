"""The two Parquet record schemas of docs/architecture.md, as pyarrow schemas.

The one definition: the writers (locustfiles/_record.py, observability/trace_archive) and the
readers (lab) all import it, so a column cannot change on one side only. pyarrow only.
"""

from __future__ import annotations

import pyarrow as pa

REQUEST_SCHEMA = pa.schema(
    [
        ("ts_start_us", pa.int64()),
        ("scenario", pa.string()),
        ("name", pa.string()),
        ("method", pa.string()),
        ("status", pa.int32()),
        ("response_time_us", pa.int64()),
        ("bytes", pa.int64()),
        ("failure", pa.string()),
        ("worker_id", pa.string()),
        ("tenant_id", pa.int64()),
        ("trace_id", pa.string()),
        ("run_id", pa.string()),
    ]
)

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

# Columns the analyses cannot do without; a part lacking one is treated as corrupted.
REQUIRED_REQUEST_COLUMNS = ("ts_start_us", "name", "response_time_us", "failure")
REQUIRED_SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "kind",
    "start_unix_ns",
    "end_unix_ns",
)

# Column sets of the span archive that readers select (missing ones read as NULL): the tree
# every reader needs, then what the report's waterfalls add (the flat attribute columns) and
# what the archive's Jaeger-style query API adds (every attribute, as JSON).
SPAN_TREE_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "service_name",
    "kind",
    "start_unix_ns",
    "end_unix_ns",
    "status_code",
)
SPAN_WATERFALL_COLUMNS = (
    *SPAN_TREE_COLUMNS,
    "run_id",
    "http_route",
    "http_status",
    "db_system",
    "db_statement",
)
SPAN_QUERY_COLUMNS = (*SPAN_TREE_COLUMNS, "attributes")
