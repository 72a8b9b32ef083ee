"""Every run's archived spans, queryable: services, operations, trace search, one trace.

Parts are immutable once renamed into place, so each is summarised once (its services,
operations and start-time range) and the summaries prune later queries: a search reads
only the parts that hold its service in its time window, then the runs of the traces it
found. Parts whose footer or pages do not read are left out and logged once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from lab.contract import span_parts_of_all_runs
from lab.schemas import SPAN_QUERY_COLUMNS

LOG = logging.getLogger("trace_archive.query")
REQUIRED = ("trace_id", "span_id", "name", "service_name", "kind", "start_unix_ns", "end_unix_ns")


@dataclass(frozen=True)
class PartSummary:
    path: Path
    operations: frozenset[tuple[str, str, str]]  # (service, span name, kind)
    first_start_ns: int
    last_start_ns: int

    @property
    def run_dir(self) -> Path:
        return self.path.parent.parent

    def overlaps(self, start_ns: int | None, end_ns: int | None) -> bool:
        return (start_ns is None or self.last_start_ns >= start_ns) and (
            end_ns is None or self.first_start_ns <= end_ns
        )


@dataclass(frozen=True)
class SpanSearch:
    service: str
    operation: str | None = None
    tags: Mapping[str, str] | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 100


def _quoted(paths: Iterable[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # A side service on a shared lab machine: bounded threads and memory.
    con.execute("SET threads TO 2")
    con.execute("SET memory_limit = '256MB'")
    return con


class SpanIndex:
    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.parts: dict[Path, PartSummary] = {}
        self.unreadable: set[Path] = set()
        self.lock = threading.Lock()

    # --- the part summaries -------------------------------------------------------------
    def refresh(self) -> list[PartSummary]:
        """Summarise parts written since the last call; every readable part's summary."""
        with self.lock:
            found = span_parts_of_all_runs(self.runs_dir)
            new = [p for p in found if p not in self.parts and p not in self.unreadable]
            good = [p for p in new if self._footer_ok(p)]
            if good:
                self._summarise(good)
            return list(self.parts.values())

    def _footer_ok(self, path: Path) -> bool:
        try:
            names = set(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # any unreadable footer: leave the part out
            self._skip(path, f"unreadable footer ({type(exc).__name__})")
            return False
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            self._skip(path, f"missing columns {', '.join(missing)}")
            return False
        return True

    def _skip(self, path: Path, why: str) -> None:
        self.unreadable.add(path)
        LOG.warning("skipping span part %s: %s", path, why)

    def _summarise(self, paths: list[Path]) -> None:
        con = _connect()
        try:
            rows = con.execute(
                f"""SELECT filename, service_name, name, kind, min(start_unix_ns),
                           max(start_unix_ns)
                    FROM read_parquet({_quoted(paths)}, union_by_name = true, filename = true)
                    GROUP BY ALL"""  # noqa: S608 - quoted file names
            ).fetchall()
        except duckdb.Error:
            con.close()
            if len(paths) == 1:
                self._skip(paths[0], "corrupted data pages")
                return
            for path in paths:  # find the broken part(s) one by one
                self._summarise([path])
            return
        con.close()
        grouped: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            grouped.setdefault(row[0], []).append(row)
        for path in paths:
            mine = grouped.get(str(path), [])
            self.parts[path] = PartSummary(
                path,
                frozenset((str(r[1]), str(r[2]), str(r[3])) for r in mine),
                min((int(r[4]) for r in mine), default=0),
                max((int(r[5]) for r in mine), default=-1),
            )

    # --- queries --------------------------------------------------------------------------
    def services(self) -> list[str]:
        return sorted({op[0] for part in self.refresh() for op in part.operations})

    def operations(self, service: str, span_kind: str | None = None) -> list[tuple[str, str]]:
        """(span name, lower-case kind) pairs of a service, sorted."""
        return sorted(
            {
                (name, kind.lower())
                for part in self.refresh()
                for svc, name, kind in part.operations
                if svc == service and (not span_kind or kind.lower() == span_kind.lower())
            }
        )

    def _select(self, paths: Iterable[Path], con: duckdb.DuckDBPyConnection) -> str:
        source = f"read_parquet({_quoted(paths)}, union_by_name = true)"
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}  # noqa: S608
        cols = ", ".join(c if c in present else f"NULL AS {c}" for c in SPAN_QUERY_COLUMNS)
        return f"(SELECT {cols} FROM {source})"  # noqa: S608 - quoted file names

    def find_trace_ids(self, search: SpanSearch) -> list[str]:
        """Traces with a span matching the search, the most recent first, at most `limit`."""
        parts = [
            p.path
            for p in self.refresh()
            if any(
                op[0] == search.service and (not search.operation or op[1] == search.operation)
                for op in p.operations
            )
            and p.overlaps(search.start_ns, search.end_ns)
        ]
        if not parts:
            return []
        where, params = ["service_name = ?"], [search.service]
        if search.operation:
            where.append("name = ?")
            params.append(search.operation)
        if search.start_ns is not None:
            where.append("start_unix_ns >= ?")
            params.append(search.start_ns)
        if search.end_ns is not None:
            where.append("start_unix_ns <= ?")
            params.append(search.end_ns)
        if search.min_duration_ns:
            where.append("end_unix_ns - start_unix_ns >= ?")
            params.append(search.min_duration_ns)
        if search.max_duration_ns:
            where.append("end_unix_ns - start_unix_ns <= ?")
            params.append(search.max_duration_ns)
        for key, value in (search.tags or {}).items():
            clause, args = _tag_clause(key, value)
            where.append(clause)
            params.extend(args)
        con = _connect()
        try:
            rows = con.execute(
                f"""SELECT trace_id, max(start_unix_ns) AS latest FROM {self._select(parts, con)}
                    WHERE {" AND ".join(where)}
                    GROUP BY trace_id ORDER BY latest DESC, trace_id
                    LIMIT {max(1, int(search.limit))}""",  # noqa: S608 - fixed clauses
                params,
            ).fetchall()
        finally:
            con.close()
        return [r[0] for r in rows]

    def load_traces(
        self,
        trace_ids: list[str],
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """Every archived span of the given traces, by trace id (missing ids absent)."""
        if not trace_ids:
            return {}
        parts = [p.path for p in self.refresh() if p.overlaps(start_ns, end_ns)]
        if not parts:
            return {}
        con = _connect()
        try:
            cursor = con.execute(
                f"SELECT * FROM {self._select(parts, con)} "  # noqa: S608 - quoted file names
                "WHERE trace_id IN (SELECT unnest(?::VARCHAR[]))",
                [trace_ids],
            )
            names = [d[0] for d in cursor.description]
            found: dict[str, list[dict[str, Any]]] = {}
            for row in cursor.fetchall():
                span = dict(zip(names, row, strict=True))
                found.setdefault(span["trace_id"], []).append(span)
        finally:
            con.close()
        return found


def _tag_clause(key: str, value: str) -> tuple[str, list[Any]]:
    """A span matches a tag when its attribute (or a tag the translator derives) equals it."""
    if key == "error":
        wanted = value.lower() == "true"
        return ("status_code = 'ERROR'" if wanted else "status_code <> 'ERROR'"), []
    if key == "span.kind":
        return "lower(kind) = lower(?)", [value]
    if key == "otel.status_code":
        return "status_code = ?", [value]
    path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "json_extract_string(attributes, ?) = ?", [path, value]
