"""The exact per-request record: every request, unrounded, in Parquet parts.

One folder per worker (`requests/<worker_id>/`); rows are buffered in columns
and written as `part-<seq>.parquet` every `flush_rows` rows or
`flush_seconds`, through a temporary name and a rename, so a part that exists
is complete. A killed worker loses at most its unflushed batch; a normal stop
flushes on `test_stop` and `quitting`, so the row count equals Locust's
request count. Memory holds one batch at most. A worker that does not share the
master's runs folder hands each complete part to a sink that sends it to the master
instead (`_delivery.py`), which writes it under the same name.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import pyarrow as pa
import pyarrow.parquet as pq

from lab.contract import RunFolder, atomic_write
from lab.schemas import REQUEST_SCHEMA
from locustfiles._tracing import current_trace_id

logger = logging.getLogger(__name__)

# Where a complete part goes: (sequence number, Parquet bytes, rows). The default writes it
# into the worker's folder; a remote worker sends it to the master (_delivery.PartSender).
PartSink = Callable[[int, bytes, int], None]

_PART_PATTERN = re.compile(r"^part-(\d+)\.parquet$")


def failure_reason(exception: BaseException | str | None) -> str | None:
    """One line naming the failure: `TenantLeak: …`, `HTTPError: 500 …`."""
    if exception is None:
        return None
    if isinstance(exception, str):
        return exception
    text = str(exception)
    kind = type(exception).__name__
    if kind == "CatchResponseError":  # resp.failure("...") wraps plain messages in this
        return text
    return f"{kind}: {text}" if text else kind


def _status_of(response: Any) -> int:
    status = getattr(response, "status_code", 0)
    try:
        return int(status or 0)
    except (TypeError, ValueError):
        return 0


class PartWriter:
    """Buffers rows of one schema in columns and writes them as complete Parquet parts.

    Shared by the per-request record and the workflow transactions record
    (`_transactions.py`): the same flushing, naming and atomic rename for both.
    """

    schema: pa.Schema = REQUEST_SCHEMA
    label = "per-request record"
    record = "requests"  # the run folder's record it belongs to (_delivery.RECORD_FOLDERS)

    def __init__(
        self,
        folder: Path,
        worker_id: str,
        run_id: str,
        flush_rows: int = 20_000,
        flush_seconds: float = 2.0,
        sink: PartSink | None = None,
    ) -> None:
        self.folder = folder
        self.sink: PartSink = sink or self._write_part
        self.worker_id = worker_id
        self.run_id = run_id
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.rows_written = 0
        self.rows_seen = 0
        self.parts_written = 0
        self._columns: dict[str, list[Any]] = {field.name: [] for field in self.schema}
        self._last_flush = time.monotonic()
        self._seq = self._next_seq() if sink is None else 0
        self._timer: gevent.Greenlet | None = None

    def _next_seq(self) -> int:
        if not self.folder.is_dir():
            return 0
        seqs = [
            int(m.group(1)) for p in self.folder.iterdir() if (m := _PART_PATTERN.match(p.name))
        ]
        return max(seqs, default=-1) + 1

    # --- writing --------------------------------------------------------------------------
    def flush(self) -> None:
        """Write buffered rows as one complete part; never raises (the run goes on)."""
        self._last_flush = time.monotonic()
        count = len(next(iter(self._columns.values())))
        if count == 0:
            return
        columns, self._columns = self._columns, {field.name: [] for field in self.schema}
        table = pa.Table.from_pydict(columns, schema=self.schema)
        # The number is taken before the sink runs: a sink that yields (a remote worker's
        # upload) may see another flush start meanwhile, which must not reuse it.
        seq, self._seq = self._seq, self._seq + 1
        try:
            buffer = pa.BufferOutputStream()
            pq.write_table(table, buffer, compression="zstd")
            self.sink(seq, buffer.getvalue().to_pybytes(), count)
        except OSError as exc:
            logger.error(
                "%s: could not deliver part %d (%d rows lost): %s", self.label, seq, count, exc
            )
            return
        self.parts_written += 1
        self.rows_written += count

    def add(self, row: dict[str, Any]) -> None:
        """One row given as a dict (a missing column is null)."""
        for name, values in self._columns.items():
            values.append(row.get(name))
        self.rows_seen += 1
        if len(next(iter(self._columns.values()))) >= self.flush_rows:
            self.flush()

    def _write_part(self, seq: int, payload: bytes, _rows: int) -> None:
        atomic_write(self.folder / f"part-{seq:06d}.parquet", payload)

    def start_timer(self) -> None:
        if self._timer is None:
            self._timer = gevent.spawn(self._flush_periodically)

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.kill(block=False)
            self._timer = None

    def _flush_periodically(self) -> None:
        interval = min(0.5, self.flush_seconds)
        while True:
            gevent.sleep(interval)
            if time.monotonic() - self._last_flush >= self.flush_seconds:
                self.flush()


class RequestRecorder(PartWriter):
    """Listens on `events.request` of a local runner or a worker."""

    # --- listener -------------------------------------------------------------------------
    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response_length: int | None,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        start_time: float | None = None,
        response: Any = None,
        **_kwargs: Any,
    ) -> None:
        columns = self._columns
        context = context or {}
        started = (
            start_time if start_time is not None else time.time() - (response_time or 0) / 1000
        )
        ts_start_us = int(started * 1_000_000)
        columns["ts_start_us"].append(ts_start_us)
        columns["scenario"].append(context.get("scenario"))
        columns["name"].append(name)
        columns["method"].append(request_type)
        columns["status"].append(_status_of(response))
        columns["response_time_us"].append(round((response_time or 0.0) * 1000))
        columns["bytes"].append(int(response_length or 0))
        columns["failure"].append(failure_reason(exception))
        columns["worker_id"].append(self.worker_id)
        columns["tenant_id"].append(context.get("tenant_id"))
        columns["trace_id"].append(current_trace_id())
        columns["run_id"].append(self.run_id)
        lag_s = context.get("schedule_lag_s")  # open model only: the task's lag (_arrivals)
        lag_us = None if lag_s is None else round(lag_s * 1_000_000)
        columns["schedule_lag_us"].append(lag_us)
        columns["intended_start_us"].append(None if lag_us is None else ts_start_us - lag_us)
        self.rows_seen += 1
        if len(columns["name"]) >= self.flush_rows:
            self.flush()


def record_parts(run_dir: Path) -> list[Path]:
    return RunFolder(run_dir).request_parts()


def rows_by_worker(run_dir: Path) -> dict[str, int]:
    """Rows of the complete parts in each worker's folder (footer reads only)."""
    rows: dict[str, int] = {}
    for part in record_parts(run_dir):
        try:
            count = pq.ParquetFile(part).metadata.num_rows
        except (OSError, pa.ArrowInvalid):
            continue
        rows[part.parent.name] = rows.get(part.parent.name, 0) + count
    return rows


def count_record_rows(run_dir: Path) -> int:
    """Rows of every complete part (footer reads only)."""
    total = 0
    for part in record_parts(run_dir):
        try:
            total += pq.ParquetFile(part).metadata.num_rows
        except (OSError, pa.ArrowInvalid):
            logger.warning("per-request record: unreadable part %s skipped", part)
    return total
