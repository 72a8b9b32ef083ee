"""The two Parquet record schemas of docs/architecture.md, as pyarrow schemas."""

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
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("service_name", pa.string()),
        ("kind", pa.string()),
        ("start_unix_ns", pa.int64()),
        ("end_unix_ns", pa.int64()),
        ("status_code", pa.string()),
        ("run_id", pa.string()),
        ("http_route", pa.string()),
        ("http_status", pa.int32()),
        ("db_system", pa.string()),
        ("db_statement", pa.string()),
        ("attributes", pa.string()),
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
