"""Find a trace in the span archive: in one run, or in every run newest first."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from lab.errors import LabError
from lab.rundata import check_part, span_part_paths
from lab.runs_dir import list_run_dirs
from lab.schemas import REQUIRED_SPAN_COLUMNS, SPAN_WATERFALL_COLUMNS

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
UNASSIGNED = "_unassigned"  # the archive's folder for spans without lab.run_id


def parse_trace_id(text: str) -> str:
    trace_id = text.strip().lower()
    if not TRACE_ID.match(trace_id):
        raise LabError(f"{text!r} is not a trace id (32 hex digits, as in the report)")
    return trace_id


def readable_span_parts(run_dir: Path) -> list[Path]:
    """The run's span parts whose footer reads and which have the required columns."""
    return [p for p in span_part_paths(run_dir) if check_part(p, REQUIRED_SPAN_COLUMNS) is None]


def parquet_source(con: duckdb.DuckDBPyConnection, parts: list[Path]) -> str:
    """A subquery over `parts` with every waterfall column (NULL where a part lacks one)."""
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
    scan = f"read_parquet([{listed}], union_by_name = true)"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}  # noqa: S608
    columns = ", ".join(c if c in present else f"NULL AS {c}" for c in SPAN_WATERFALL_COLUMNS)
    return f"(SELECT {columns} FROM {scan})"  # noqa: S608 - file names quoted


def _spans_in(
    con: duckdb.DuckDBPyConnection, parts: list[Path], trace_id: str
) -> list[dict[str, Any]]:
    try:
        cursor = con.execute(
            f"SELECT * FROM {parquet_source(con, parts)} WHERE trace_id = ?",  # noqa: S608
            [trace_id],
        )
    except duckdb.Error:
        if len(parts) == 1:
            return []  # a part with broken pages: its spans are lost, the others are not
        return [span for part in parts for span in _spans_in(con, [part], trace_id)]
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def candidate_runs(root: Path, run_dir: Path | None) -> list[Path]:
    if run_dir is not None:
        return [run_dir]
    unassigned = root / UNASSIGNED
    return list(reversed(list_run_dirs(root))) + ([unassigned] if unassigned.is_dir() else [])


def find_trace(
    root: Path, trace_id: str, run_dir: Path | None = None
) -> tuple[Path, list[dict[str, Any]]]:
    """(run folder, spans) of the trace; LabError (exit 2) when no run archived it."""
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    try:
        for candidate in candidate_runs(root, run_dir):
            parts = readable_span_parts(candidate)
            if parts:
                spans = _spans_in(con, parts, trace_id)
                if spans:
                    return candidate, spans
    finally:
        con.close()
    where = f"run {run_dir.name}" if run_dir is not None else f"any run under {root}"
    raise LabError(f"trace {trace_id} not found in {where}")
