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
        # Open model only (null in a closed-model run): when the schedule meant the request to
        # start, and how late its task started (ts_start_us - intended_start_us). Corrected
        # latency = response_time_us + schedule_lag_us (from the intended start).
        ("intended_start_us", pa.int64()),
        ("schedule_lag_us", pa.int64()),
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

# Browser users (issue 16, locustfiles/_browser.py). A page load: navigation timing of the
# document, Largest Contentful Paint, the resources it loaded, in microseconds from the
# navigation's start. `page` is the request name the HTTP users give the same page
# ("/inventory/[id]"), so a report can set the two side by side; `visit` counts loads of that
# page in one browser context (2+ = a repeat visit, where assets should come from the cache).
PAGE_LOAD_SCHEMA = pa.schema(
    [
        ("ts_start_us", pa.int64()),
        ("scenario", pa.string()),
        ("page", pa.string()),
        ("url", pa.string()),
        ("visit", pa.int32()),
        ("status", pa.int32()),
        ("ttfb_us", pa.int64()),
        ("dom_content_loaded_us", pa.int64()),
        ("load_us", pa.int64()),
        ("lcp_us", pa.int64()),
        ("resources", pa.int32()),
        ("resource_transfer_bytes", pa.int64()),
        ("document_transfer_bytes", pa.int64()),
        ("resources_from_cache", pa.int32()),
        ("browser_pss_bytes", pa.int64()),  # the user's Chromium process tree (PSS)
        ("failure", pa.string()),
        ("worker_id", pa.string()),
        ("tenant_id", pa.int64()),
        ("trace_id", pa.string()),
        ("run_id", pa.string()),
    ]
)

# One asset (stylesheet, script, image) a page load fetched or took from the cache, with the
# response headers the browser saw when it was downloaded; `repeat` = this browser context had
# loaded the same URL before (then a transfer is a re-download the cache should have saved).
PAGE_ASSET_SCHEMA = pa.schema(
    [
        ("ts_start_us", pa.int64()),
        ("page", pa.string()),
        ("url", pa.string()),
        ("initiator", pa.string()),
        ("status", pa.int32()),
        ("content_type", pa.string()),
        ("content_encoding", pa.string()),
        ("cache_control", pa.string()),
        ("transfer_bytes", pa.int64()),
        ("encoded_bytes", pa.int64()),
        ("decoded_bytes", pa.int64()),
        ("from_cache", pa.bool_()),
        ("repeat", pa.bool_()),
        ("worker_id", pa.string()),
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
