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
        # Open model only (null in a closed-model run): when the schedule meant the request to
        # start, and how late its task started (ts_start_us - intended_start_us). Corrected
        # latency = response_time_us + schedule_lag_us (from the intended start).
        ("intended_start_us", pa.int64()),
        ("schedule_lag_us", pa.int64()),
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
