"""The Parquet record schemas of docs/architecture.md, as pyarrow schemas.

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

# One row per workflow transaction (locustfiles/_transactions.py): a whole workflow task of
# the source document (a POS sale, ...) with its end-to-end time and success. A sibling of
# the per-request record, not rows in it: the request record's row count is Locust's request
# count, and its names carry the page and API targets, neither of which a workflow has.
# A workflow's "method" where it sits beside requests (`lab compare`'s labels, the slow-request
# judge of tail sampling): "WORKFLOW POS sale".
WORKFLOW_METHOD = "WORKFLOW"

TRANSACTION_SCHEMA = pa.schema(
    [
        ("ts_start_us", pa.int64()),
        ("scenario", pa.string()),
        ("name", pa.string()),
        ("duration_us", pa.int64()),
        ("requests", pa.int32()),
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
REQUIRED_TRANSACTION_COLUMNS = ("ts_start_us", "name", "duration_us", "failure")
REQUIRED_SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "kind",
    "start_unix_ns",
    "end_unix_ns",
)
