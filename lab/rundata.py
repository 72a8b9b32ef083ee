"""Load a run folder's Parquet parts into DuckDB, skipping corrupted parts with a warning.

Every part is checked (footer and required columns) before DuckDB reads it, so one
damaged file costs its own rows, never the report. Inputs are only ever read.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from lab.contract import RunFolder
from lab.schemas import (
    REQUEST_SCHEMA,
    REQUIRED_REQUEST_COLUMNS,
    REQUIRED_SPAN_COLUMNS,
    REQUIRED_TRANSACTION_COLUMNS,
    SPAN_SCHEMA,
    TRANSACTION_SCHEMA,
)


@dataclass
class RunData:
    """A DuckDB connection holding `requests`, `transactions` and `spans` tables for one run."""

    run_dir: Path
    con: duckdb.DuckDBPyConnection
    request_parts: list[Path] = field(default_factory=list)
    span_parts: list[Path] = field(default_factory=list)
    transaction_parts: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: reason"
    # Holds the database file and spill folder; removed with this object.
    scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def request_count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM requests").fetchone()[0])

    @property
    def span_count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM spans").fetchone()[0])


def request_part_paths(run_dir: Path) -> list[Path]:
    return RunFolder(run_dir).request_parts()


def span_part_paths(run_dir: Path) -> list[Path]:
    return RunFolder(run_dir).span_parts()


def check_part(path: Path, required: Sequence[str]) -> str | None:
    """None when the part's footer reads and it has every required column, else why not."""
    try:
        names = set(pq.ParquetFile(path).schema_arrow.names)
    except Exception as exc:
        return f"unreadable ({type(exc).__name__})"
    missing = [c for c in required if c not in names]
    return f"missing columns {', '.join(missing)}" if missing else None


def _good_parts(paths: list[Path], required: Sequence[str], skipped: list[str]) -> list[Path]:
    good = []
    for path in paths:
        reason = check_part(path, required)
        if reason is None:
            good.append(path)
        else:
            skipped.append(f"{path}: {reason}")
    return good


_SQL_TYPES = {"int64": "BIGINT", "int32": "INTEGER", "string": "VARCHAR"}


def _empty_table_sql(table: str, schema: object) -> str:
    cols = ", ".join(f"{f.name} {_SQL_TYPES[str(f.type)]}" for f in schema)  # type: ignore[attr-defined]
    return f"CREATE TABLE {table} ({cols})"


def _load_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    parts: list[Path],
    schema: object,
    skipped: list[str],
) -> list[Path]:
    """Make `table` a view of `parts` with the contract's columns; returns the parts used.

    A view, not a copy: the report's queries read the Parquet parts in place, so memory
    does not grow with the run. Every page is decoded once first (a checksum of every
    column), so a part with broken pages is found and skipped here, not mid-report.
    """
    fields = list(schema)  # type: ignore[call-overload]
    remaining = list(parts)
    while remaining:
        # union_by_name: parts written by different versions may order or add columns.
        source = f"read_parquet({_sql_list(remaining)}, union_by_name = true)"
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()  # noqa: S608
            present = {row[0] for row in described}
            select = ", ".join(
                f.name
                if f.name in present
                else f"CAST(NULL AS {_SQL_TYPES[str(f.type)]}) AS {f.name}"
                for f in fields
            )
            decode_all = ", ".join(f"bit_xor(hash({f.name}))" for f in fields if f.name in present)
            con.execute(f"SELECT {decode_all} FROM {source}").fetchall()  # noqa: S608
            con.execute(f"CREATE VIEW {table} AS SELECT {select} FROM {source}")  # noqa: S608
            return remaining
        except duckdb.Error:
            # A footer that parses can still hide broken pages: find the culprits one by one.
            bad = [p for p in remaining if not _reads_fully(con, p)]
            if not bad:
                raise
            for path in bad:
                skipped.append(f"{path}: corrupted data pages")
            remaining = [p for p in remaining if p not in bad]
    con.execute(_empty_table_sql(table, schema))
    return remaining


def _sql_list(paths: list[Path]) -> str:
    quoted = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    return f"[{quoted}]"


def _reads_fully(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    try:
        con.execute(f"SELECT * FROM read_parquet({_sql_list([path])})").to_arrow_table()  # noqa: S608
    except duckdb.Error:
        return False
    return True


# DuckDB's own memory (tables, joins, sorts) stays under this; beyond it, it spills to a
# scratch folder. Python, pyarrow and the rendered report come on top: a report of a
# 24-hour soak (10 M requests, 10 M spans) stays under 1 GiB of RSS (bench/bench_report.py).
MEMORY_LIMIT = "500MB"


def _scratch_connection() -> tuple[duckdb.DuckDBPyConnection, tempfile.TemporaryDirectory[str]]:
    """A DuckDB database in a private temporary folder, removed when the folder object goes.

    A file-backed database lets DuckDB evict the loaded tables' blocks to disk under the
    memory limit (an in-memory database has to keep them), and the folder takes the spill.
    """
    scratch = tempfile.TemporaryDirectory(prefix="lab-report-")
    con = duckdb.connect(str(Path(scratch.name) / "run.duckdb"))
    con.execute(f"SET temp_directory = '{Path(scratch.name) / 'spill'}'")
    return con, scratch


def open_run(run_dir: Path, *, with_spans: bool = True, warn: bool = True) -> RunData:
    """Load a run's records; corrupted parts are skipped and named on stderr."""
    con, scratch = _scratch_connection()
    # Two cores shared by everyone: stay polite and bounded.
    con.execute("SET threads TO 2")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute("SET preserve_insertion_order = false")
    skipped: list[str] = []
    req_parts = _good_parts(request_part_paths(run_dir), REQUIRED_REQUEST_COLUMNS, skipped)
    req_parts = _load_table(con, "requests", req_parts, REQUEST_SCHEMA, skipped)
    # Workflow transactions (runs before them have none: an empty table).
    tx_parts = _good_parts(
        RunFolder(run_dir).transaction_parts(), REQUIRED_TRANSACTION_COLUMNS, skipped
    )
    tx_parts = _load_table(con, "transactions", tx_parts, TRANSACTION_SCHEMA, skipped)
    span_parts: list[Path] = []
    if with_spans:
        span_parts = _good_parts(span_part_paths(run_dir), REQUIRED_SPAN_COLUMNS, skipped)
        span_parts = _load_table(con, "spans", span_parts, SPAN_SCHEMA, skipped)
    else:
        con.execute(_empty_table_sql("spans", SPAN_SCHEMA))
    if warn:
        for line in skipped:
            print(f"warning: skipped corrupted part {line}", file=sys.stderr)
    return RunData(run_dir, con, req_parts, span_parts, tx_parts, skipped, scratch)
