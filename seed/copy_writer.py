"""COPY ... FROM STDIN on a writer thread, so PostgreSQL ingests one tenant while Python builds
the next. psycopg2 releases the GIL while it sends COPY data and waits for the server.

One connection, one transaction: the writer uses the caller's connection, and the caller does
not touch it until `close()` returns (psycopg2 connections may be shared between threads, but
statements must not interleave).
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import time
from typing import Any

from seed.progress import LoadFigures
from seed.tables import Table

_DONE = None


class CopyWriter:
    def __init__(self, raw_connection: Any, figures: LoadFigures, *, depth: int = 2) -> None:
        self._connection = raw_connection
        self._figures = figures
        # Bounded: at most `depth` tenants' rows wait in memory.
        self._jobs: queue.Queue[tuple[Table, bytes, int] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="seed-copy", daemon=True)
        self._thread.start()

    def submit(self, table: Table, lines: list[str]) -> None:
        if not lines:
            return
        payload = ("\n".join(lines) + "\n").encode()
        job = (table, payload, len(lines))
        while True:
            self._raise_if_failed()
            try:
                self._jobs.put(job, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait for every submitted COPY; re-raise the writer's error, if any."""
        while self._thread.is_alive():
            try:
                self._jobs.put(_DONE, timeout=0.5)
                break
            except queue.Full:
                self._raise_if_failed()
        self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop after the current COPY; the caller rolls the transaction back."""
        self._error = self._error or RuntimeError("aborted")
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        with contextlib.suppress(queue.Full):
            self._jobs.put_nowait(_DONE)
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            with self._connection.cursor() as cursor:
                while True:
                    job = self._jobs.get()
                    if job is _DONE or self._error is not None:
                        return
                    table, payload, rows = job
                    started = time.monotonic()
                    cursor.copy_expert(
                        f"COPY {table.name} ({table.column_list}) FROM STDIN", io.BytesIO(payload)
                    )
                    figures = self._figures.tables[table]
                    figures.copy_seconds += time.monotonic() - started
                    figures.rows += rows
        except BaseException as error:  # handed to the main thread
            self._error = error
