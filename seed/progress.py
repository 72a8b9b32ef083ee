"""Progress lines on stderr and the per-table figures of a load."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from seed.tables import TABLES, Table


def log(message: str) -> None:
    print(f"[seed] {message}", file=sys.stderr, flush=True)


@dataclass
class TableFigures:
    rows: int = 0
    copy_seconds: float = 0.0  # time PostgreSQL spent taking the COPY streams
    rebuild_seconds: float = 0.0  # indexes and constraints recreated after the load


@dataclass
class LoadFigures:
    started: float = field(default_factory=time.monotonic)
    generate_seconds: float = 0.0  # Python building rows (overlaps with COPY: a writer thread)
    tables: dict[Table, TableFigures] = field(
        default_factory=lambda: {table: TableFigures() for table in TABLES}
    )

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def summary(self) -> list[str]:
        lines = [f"{'table':<16}{'rows':>12}{'COPY s':>9}{'rows/s':>11}{'index s':>9}"]
        total_rows = 0
        for table, figures in self.tables.items():
            rate = figures.rows / figures.copy_seconds if figures.copy_seconds else 0.0
            lines.append(
                f"{table.label:<16}{figures.rows:>12,}{figures.copy_seconds:>9.1f}"
                f"{rate:>11,.0f}{figures.rebuild_seconds:>9.1f}"
            )
            total_rows += figures.rows
        wall = self.elapsed()
        lines.append(
            f"total {total_rows:,} rows in {wall:.1f} s wall ({total_rows / wall:,.0f} rows/s; "
            f"Python row generation {self.generate_seconds:.1f} s, overlapped with COPY)"
        )
        return lines
