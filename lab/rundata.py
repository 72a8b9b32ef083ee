"""Load a run folder's Parquet parts into DuckDB, skipping corrupted parts with a warning.

Every part is checked (footer and required columns) before DuckDB reads it, so one
damaged file costs its own rows, never the report. Inputs are only ever read.
"""

from __future__ import annotations

import sys
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
    SPAN_SCHEMA,
)


@dataclass
class RunData:
    """A DuckDB connection holding `requests` and `spans` tables for one run."""

    run_dir: Path
    con: duckdb.DuckDBPyConnection
    request_parts: list[Path] = field(default_factory=list)
    span_parts: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: reason"

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


def _empty_table_sql(table: str, schema: object) -> str:
    type_names = {"int64": "BIGINT", "int32": "INTEGER", "string": "VARCHAR"}
    cols = ", ".join(f"{f.name} {type_names[str(f.type)]}" for f in schema)  # type: ignore[attr-defined]
    return f"CREATE TABLE {table} ({cols})"


def _load_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    parts: list[Path],
    schema: object,
    skipped: list[str],
) -> list[Path]:
    """Create `table` from `parts` with the contract's columns; returns the parts loaded."""
    con.execute(_empty_table_sql(table, schema))
    cols = [f.name for f in schema]  # type: ignore[attr-defined]
    remaining = list(parts)
    while remaining:
        # union_by_name: parts written by different versions may order or add columns.
        source = f"read_parquet({_sql_list(remaining)}, union_by_name = true)"
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()  # noqa: S608
            present = {row[0] for row in described}
            select = ", ".join(c if c in present else f"NULL AS {c}" for c in cols)
            con.execute(f"INSERT INTO {table} SELECT {select} FROM {source}")  # noqa: S608
            return remaining
        except duckdb.Error:
            # A footer that parses can still hide broken pages: find the culprits one by one.
            bad = [p for p in remaining if not _reads_fully(con, p)]
            if not bad:
                raise
            for path in bad:
                skipped.append(f"{path}: corrupted data pages")
            remaining = [p for p in remaining if p not in bad]
            con.execute(f"DELETE FROM {table}")  # noqa: S608
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


def open_run(run_dir: Path, *, with_spans: bool = True, warn: bool = True) -> RunData:
    """Load a run's records; corrupted parts are skipped and named on stderr."""
    con = duckdb.connect()
    # Two cores shared by everyone: stay polite and bounded.
    con.execute("SET threads TO 2")
    con.execute("SET memory_limit = '1536MB'")
    con.execute("SET preserve_insertion_order = false")
    skipped: list[str] = []
    req_parts = _good_parts(request_part_paths(run_dir), REQUIRED_REQUEST_COLUMNS, skipped)
    req_parts = _load_table(con, "requests", req_parts, REQUEST_SCHEMA, skipped)
    span_parts: list[Path] = []
    if with_spans:
        span_parts = _good_parts(span_part_paths(run_dir), REQUIRED_SPAN_COLUMNS, skipped)
        span_parts = _load_table(con, "spans", span_parts, SPAN_SCHEMA, skipped)
    else:
        con.execute(_empty_table_sql("spans", SPAN_SCHEMA))
    if warn:
        for line in skipped:
            print(f"warning: skipped corrupted part {line}", file=sys.stderr)
    return RunData(run_dir, con, req_parts, span_parts, skipped)
