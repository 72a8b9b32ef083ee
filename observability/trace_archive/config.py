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


@dataclass(frozen=True)
class _Number:
    """One numeric setting: its flag, environment variable, ArchiveConfig field and bounds."""

    flag: str
    env: str | None  # None: a flag only
    field: str
    kind: type[int] | type[float]
    minimum: float
    default: float
    help: str

    @property
    def label(self) -> str:  # how an error names the setting
        return self.env or self.flag


_NUMBERS = (
    _Number("--port", "LAB_ARCHIVE_PORT", "port", int, 0, DEFAULT_PORT, "0 = any free port"),
    _Number(
        "--flush-seconds",
        "LAB_ARCHIVE_FLUSH_SECONDS",
        "flush_seconds",
        float,
        0.01,
        DEFAULT_FLUSH_SECONDS,
        "longest time a span waits before it is on disk",
    ),
    _Number(
        "--max-queue",
        "LAB_ARCHIVE_MAX_QUEUE",
        "max_queue_spans",
        int,
        1,
        DEFAULT_MAX_QUEUE,
        "spans held before senders get a retryable 503",
    ),
    _Number(
        "--batch-rows",
        None,
        "batch_rows",
        int,
        1,
        DEFAULT_BATCH_ROWS,
        "rows that trigger a part before the flush interval ends",
    ),
    _Number(
        "--max-queue-bytes",
        "LAB_ARCHIVE_MAX_QUEUE_BYTES",
        "max_queue_bytes",
        int,
        1024,
        DEFAULT_MAX_QUEUE_BYTES,
        "protobuf bytes held before senders get a 503",
    ),
    _Number(
        "--max-request-bytes",
        "LAB_ARCHIVE_MAX_REQUEST_BYTES",
        "max_request_bytes",
        int,
        1024,
        DEFAULT_MAX_REQUEST_BYTES,
        "largest body, after decompression (else 413)",
    ),
    _Number(
        "--max-request-spans",
        "LAB_ARCHIVE_MAX_REQUEST_SPANS",
        "max_request_spans",
        int,
        1,
        DEFAULT_MAX_REQUEST_SPANS,
        "most spans in one request (else 413)",
    ),
    _Number(
        "--max-handlers",
        "LAB_ARCHIVE_MAX_HANDLERS",
        "max_handlers",
        int,
        1,
        DEFAULT_MAX_HANDLERS,
        "request bodies read and decoded at once",
    ),
    _Number(
        "--max-connections",
        "LAB_ARCHIVE_MAX_CONNECTIONS",
        "max_connections",
        int,
        1,
        DEFAULT_MAX_CONNECTIONS,
        "connections served at once (more get a 503)",
    ),
    _Number(
        "--request-timeout",
        "LAB_ARCHIVE_REQUEST_TIMEOUT_SECONDS",
        "request_timeout_seconds",
        float,
        0.1,
        DEFAULT_REQUEST_TIMEOUT_SECONDS,
        "longest time to receive one body",
    ),
)


def _number(setting: _Number, raw: str) -> int | float:
    try:
        value = setting.kind(raw)
    except ValueError:
        raise ConfigError(f"{setting.label}={raw!r} is not a number") from None
    if value < setting.minimum:
        raise ConfigError(f"{setting.label}={raw!r} must be at least {setting.minimum}")
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
    for setting in _NUMBERS:
        parser.add_argument(
            setting.flag,
            dest=setting.field,
            metavar=setting.flag.removeprefix("--").upper().replace("-", "_"),
            default=env.get(setting.env, str(setting.default))
            if setting.env
            else str(setting.default),
            help=f"{setting.env}: {setting.help}" if setting.env else setting.help,
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
    numbers = {s.field: _number(s, getattr(args, s.field)) for s in _NUMBERS}
    return ArchiveConfig(
        runs_dir=Path(args.runs_dir),
        host=args.host,
        ready_file=Path(args.ready_file) if args.ready_file else None,
        tail=tail,
        tail_ratio=tail_ratio,
        tail_hold_seconds=tail_hold,
        tail_max_bytes=tail_bytes,
        **numbers,  # type: ignore[arg-type]
    )
