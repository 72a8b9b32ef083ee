"""Span parts of the archive, each written by `lab.contract.atomic_write` (fsync, rename)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lab.contract import RunFolder, atomic_temporaries, atomic_write
from observability.trace_archive.rows import Columns
from observability.trace_archive.schema import SPAN_SCHEMA

# A temporary part older than this belongs to a process that died mid-write.
STALE_TEMP_SECONDS = 300


class PartWriter:
    """Writes ``<runs_dir>/<folder>/spans/part-<unix_ns>-<seq:06d>.parquet``."""

    def __init__(self, runs_dir: Path, compression: str = "zstd") -> None:
        self.runs_dir = runs_dir
        self.compression = compression
        self._seq = itertools.count()
        self._seq_lock = threading.Lock()
        self._prepared: set[Path] = set()

    def spans_dir(self, folder: str) -> Path:
        return RunFolder(self.runs_dir / folder).spans

    def write(self, folder: str, columns: Columns) -> Path:
        directory = self._prepare(self.spans_dir(folder))
        with self._seq_lock:
            seq = next(self._seq)
        final = directory / f"part-{time.time_ns()}-{seq:06d}.parquet"
        table = pa.Table.from_pydict(columns, schema=SPAN_SCHEMA)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=self.compression)
        atomic_write(final, sink.getvalue().to_pybytes())
        return final

    def _prepare(self, directory: Path) -> Path:
        if directory in self._prepared:
            return directory
        directory.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TEMP_SECONDS
        for leftover in atomic_temporaries(directory, "part-*.parquet"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except FileNotFoundError:
                pass
        self._prepared.add(directory)
        return directory
