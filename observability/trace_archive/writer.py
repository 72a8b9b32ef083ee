"""Atomic Parquet parts: write to a hidden temporary name, fsync, rename into place."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lab.contract import RunFolder
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
        name = f"part-{time.time_ns()}-{seq:06d}.parquet"
        final = directory / name
        temporary = directory / f".{name}.tmp"
        table = pa.Table.from_pydict(columns, schema=SPAN_SCHEMA)
        try:
            with open(temporary, "wb") as sink:
                pq.write_table(table, sink, compression=self.compression)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return final

    def _prepare(self, directory: Path) -> Path:
        if directory in self._prepared:
            return directory
        directory.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TEMP_SECONDS
        for leftover in directory.glob(".part-*.parquet.tmp"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except FileNotFoundError:
                pass
        self._prepared.add(directory)
        return directory
