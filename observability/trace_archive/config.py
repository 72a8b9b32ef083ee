"""Settings from the environment (LAB_*), overridable by command-line flags."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from lab import trace_sampling
from lab.contract import DEFAULT_RUNS_DIR
from observability.trace_archive.decode import MAX_BODY_BYTES, MAX_SPANS_PER_REQUEST

DEFAULT_PORT = 4318
DEFAULT_FLUSH_SECONDS = 1.0
# Sized from bench/bench_trace_archive.py: several seconds of a load run's span rate,
# at roughly 1 KiB per queued span.
DEFAULT_MAX_QUEUE = 50_000
DEFAULT_BATCH_ROWS = 20_000
# Memory bounds (docs/architecture.md "Trace archive limits"): the queue's bytes, one
# request's decompressed body and spans, the requests decoded at once and the connections
# served at once. Together they keep the archive far below its 512 MiB container limit.
DEFAULT_MAX_QUEUE_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = MAX_BODY_BYTES
DEFAULT_MAX_REQUEST_SPANS = MAX_SPANS_PER_REQUEST
DEFAULT_MAX_HANDLERS = 2
DEFAULT_MAX_CONNECTIONS = 64
# A request's whole body must arrive within this time (a slow sender cannot hold a slot).
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0


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
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_request_spans: int = DEFAULT_MAX_REQUEST_SPANS
    max_handlers: int = DEFAULT_MAX_HANDLERS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    # Tail sampling (lab/trace_sampling.py): off here unless asked, so tests and tools that
    # start an archive by hand keep every span; `python -m` reads LAB_TRACE_TAIL.
    tail: bool = False
    tail_ratio: float = trace_sampling.DEFAULT_RATIO
    tail_hold_seconds: float = trace_sampling.DEFAULT_HOLD_SECONDS
    tail_max_bytes: int = trace_sampling.DEFAULT_MAX_BYTES


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
        "--max-queue-bytes",
        default=env.get("LAB_ARCHIVE_MAX_QUEUE_BYTES", str(DEFAULT_MAX_QUEUE_BYTES)),
        help="LAB_ARCHIVE_MAX_QUEUE_BYTES: protobuf bytes held before senders get a 503",
    )
    parser.add_argument(
        "--max-request-bytes",
        default=env.get("LAB_ARCHIVE_MAX_REQUEST_BYTES", str(DEFAULT_MAX_REQUEST_BYTES)),
        help="LAB_ARCHIVE_MAX_REQUEST_BYTES: largest body, after decompression (else 413)",
    )
    parser.add_argument(
        "--max-request-spans",
        default=env.get("LAB_ARCHIVE_MAX_REQUEST_SPANS", str(DEFAULT_MAX_REQUEST_SPANS)),
        help="LAB_ARCHIVE_MAX_REQUEST_SPANS: most spans in one request (else 413)",
    )
    parser.add_argument(
        "--max-handlers",
        default=env.get("LAB_ARCHIVE_MAX_HANDLERS", str(DEFAULT_MAX_HANDLERS)),
        help="LAB_ARCHIVE_MAX_HANDLERS: request bodies read and decoded at once",
    )
    parser.add_argument(
        "--max-connections",
        default=env.get("LAB_ARCHIVE_MAX_CONNECTIONS", str(DEFAULT_MAX_CONNECTIONS)),
        help="LAB_ARCHIVE_MAX_CONNECTIONS: connections served at once (more get a 503)",
    )
    parser.add_argument(
        "--request-timeout",
        default=env.get(
            "LAB_ARCHIVE_REQUEST_TIMEOUT_SECONDS", str(DEFAULT_REQUEST_TIMEOUT_SECONDS)
        ),
        help="LAB_ARCHIVE_REQUEST_TIMEOUT_SECONDS: longest time to receive one body",
    )
    parser.add_argument(
        "--batch-rows",
        default=str(DEFAULT_BATCH_ROWS),
        help="rows that trigger a part before the flush interval ends",
    )
    parser.add_argument("--ready-file", help="write the bound port here once listening")
    parser.add_argument(
        "--tail",
        choices=("0", "1"),
        default=None,
        help="LAB_TRACE_TAIL: hold spans of traces outside LAB_TRACE_SAMPLE_RATIO until a "
        "Locust span keeps them (default 1)",
    )
    parser.add_argument(
        "--tail-ratio", default=None, help="LAB_TRACE_SAMPLE_RATIO: traces kept without a verdict"
    )
    parser.add_argument(
        "--tail-hold-seconds", default=None, help="LAB_ARCHIVE_TAIL_HOLD_SECONDS: longest hold"
    )
    parser.add_argument(
        "--tail-max-bytes", default=None, help="LAB_ARCHIVE_TAIL_MAX_BYTES: bytes held at most"
    )
    args = parser.parse_args(argv)
    overrides = {
        trace_sampling.TAIL_ENV: args.tail,
        trace_sampling.RATIO_ENV: args.tail_ratio,
        trace_sampling.HOLD_SECONDS_ENV: args.tail_hold_seconds,
        trace_sampling.MAX_BYTES_ENV: args.tail_max_bytes,
    }
    sampling_env = {**env, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        tail = trace_sampling.tail_enabled(sampling_env)
        tail_ratio = trace_sampling.sample_ratio(sampling_env)
        tail_hold = trace_sampling.hold_seconds(sampling_env)
        tail_bytes = trace_sampling.max_bytes(sampling_env)
    except trace_sampling.SamplingSettingError as exc:
        raise ConfigError(str(exc)) from None
    return ArchiveConfig(
        runs_dir=Path(args.runs_dir),
        host=args.host,
        port=int(_number("LAB_ARCHIVE_PORT", args.port, int, 0)),
        flush_seconds=float(_number("LAB_ARCHIVE_FLUSH_SECONDS", args.flush_seconds, float, 0.01)),
        max_queue_spans=int(_number("LAB_ARCHIVE_MAX_QUEUE", args.max_queue, int, 1)),
        batch_rows=int(_number("--batch-rows", args.batch_rows, int, 1)),
        ready_file=Path(args.ready_file) if args.ready_file else None,
        max_queue_bytes=int(
            _number("LAB_ARCHIVE_MAX_QUEUE_BYTES", args.max_queue_bytes, int, 1024)
        ),
        max_request_bytes=int(
            _number("LAB_ARCHIVE_MAX_REQUEST_BYTES", args.max_request_bytes, int, 1024)
        ),
        max_request_spans=int(
            _number("LAB_ARCHIVE_MAX_REQUEST_SPANS", args.max_request_spans, int, 1)
        ),
        max_handlers=int(_number("LAB_ARCHIVE_MAX_HANDLERS", args.max_handlers, int, 1)),
        max_connections=int(_number("LAB_ARCHIVE_MAX_CONNECTIONS", args.max_connections, int, 1)),
        request_timeout_seconds=float(
            _number("LAB_ARCHIVE_REQUEST_TIMEOUT_SECONDS", args.request_timeout, float, 0.1)
        ),
        tail=tail,
        tail_ratio=tail_ratio,
        tail_hold_seconds=tail_hold,
        tail_max_bytes=tail_bytes,
    )
