"""Settings from the environment (LAB_*), overridable by command-line flags."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from lab.contract import DEFAULT_RUNS_DIR

DEFAULT_PORT = 4318
DEFAULT_FLUSH_SECONDS = 1.0
# Sized from bench/bench_trace_archive.py: several seconds of a load run's span rate,
# at roughly 1 KiB per queued span.
DEFAULT_MAX_QUEUE = 50_000
DEFAULT_BATCH_ROWS = 20_000


class ConfigError(ValueError):
    """A setting has a value the archive cannot use."""


@dataclass(frozen=True)
class ArchiveConfig:
    runs_dir: Path
    host: str
    port: int
    flush_seconds: float
    max_queue_spans: int
    batch_rows: int
    ready_file: Path | None = None


def _number(name: str, raw: str, kind: type[int] | type[float], minimum: float) -> int | float:
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def parse_config(
    argv: list[str] | None = None, environ: dict[str, str] | None = None
) -> ArchiveConfig:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m observability.trace_archive",
        description="OTLP/HTTP receiver that writes every span to runs/<run_id>/spans/.",
    )
    parser.add_argument(
        "--runs-dir", default=env.get("LAB_RUNS_DIR", DEFAULT_RUNS_DIR), help="LAB_RUNS_DIR"
    )
    parser.add_argument(
        "--host",
        default=env.get("LAB_ARCHIVE_HOST", "127.0.0.1"),
        help="LAB_ARCHIVE_HOST (0.0.0.0 inside a container)",
    )
    parser.add_argument(
        "--port",
        default=env.get("LAB_ARCHIVE_PORT", str(DEFAULT_PORT)),
        help="LAB_ARCHIVE_PORT, 0 = any free port",
    )
    parser.add_argument(
        "--flush-seconds",
        default=env.get("LAB_ARCHIVE_FLUSH_SECONDS", str(DEFAULT_FLUSH_SECONDS)),
        help="LAB_ARCHIVE_FLUSH_SECONDS: longest time a span waits before it is on disk",
    )
    parser.add_argument(
        "--max-queue",
        default=env.get("LAB_ARCHIVE_MAX_QUEUE", str(DEFAULT_MAX_QUEUE)),
        help="LAB_ARCHIVE_MAX_QUEUE: spans held before senders get a retryable 503",
    )
    parser.add_argument(
        "--batch-rows",
        default=str(DEFAULT_BATCH_ROWS),
        help="rows that trigger a part before the flush interval ends",
    )
    parser.add_argument("--ready-file", help="write the bound port here once listening")
    args = parser.parse_args(argv)
    return ArchiveConfig(
        runs_dir=Path(args.runs_dir),
        host=args.host,
        port=int(_number("LAB_ARCHIVE_PORT", args.port, int, 0)),
        flush_seconds=float(_number("LAB_ARCHIVE_FLUSH_SECONDS", args.flush_seconds, float, 0.01)),
        max_queue_spans=int(_number("LAB_ARCHIVE_MAX_QUEUE", args.max_queue, int, 1)),
        batch_rows=int(_number("--batch-rows", args.batch_rows, int, 1)),
        ready_file=Path(args.ready_file) if args.ready_file else None,
    )
