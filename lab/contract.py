"""Facts shared by the lab CLI, the load generator (locustfiles/) and the seed: one home each.

- profile names and their default lengths and peak users;
- the duration grammar: exactly what Locust's `--run-time` accepts (Locust's own parser);
- the run id format, its validation, and the run-folder layout as path functions;
- exit codes and run statuses;
- the seed's credentials record;
- one atomic file write (temporary file, fsync, rename, fsync of the folder).

This module imports nothing heavy and never imports the `locust` package (whose
`__init__` monkey-patches the process with gevent): the duration parser is loaded from
Locust's own source file instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

__all__ = [
    "ABORT_REASON_BREACH",
    "ARRIVAL_SIGN_IN_ALLOWANCE_S",
    "CREDENTIALS_FILE_NAME",
    "DEFAULT_ARRIVAL_RATE",
    "DEFAULT_PROFILE",
    "DEFAULT_RUNS_DIR",
    "DURATION_TOLERANCE_MIN_S",
    "DURATION_TOLERANCE_RATIO",
    "EXIT_BAD_INPUT",
    "EXIT_BREACH",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNTRUSTWORTHY",
    "LATE_ARRIVAL_MAX_RATIO",
    "LATE_ARRIVAL_S",
    "PROFILES",
    "PROFILE_NAMES",
    "RUN_ID_PATTERN",
    "STATUSES",
    "STATUS_ABORTED",
    "STATUS_COMPLETED",
    "STATUS_FAILED_TO_START",
    "STATUS_INTERRUPTED",
    "STATUS_RUNNING",
    "UNTRUSTWORTHY_EVENTS",
    "Credential",
    "EventsRead",
    "ProfileDefaults",
    "RunFolder",
    "atomic_temporaries",
    "atomic_write",
    "credentials_file",
    "duration_tolerance_s",
    "event_line",
    "fsync_dir",
    "is_run_id",
    "new_run_id",
    "parse_duration",
    "read_events",
    "run_folder",
    "runs_dir_from",
    "span_parts_of_all_runs",
]

# --- profiles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileDefaults:
    users: int  # peak users
    duration_s: int  # length of the run when no duration is given


# The shapes of these profiles (stages) live in locustfiles/_shapes.py.
PROFILES: dict[str, ProfileDefaults] = {
    "smoke": ProfileDefaults(users=3, duration_s=60),
    "load": ProfileDefaults(users=50, duration_s=300),
    "stress": ProfileDefaults(users=500, duration_s=600),
    "spike": ProfileDefaults(users=200, duration_s=300),
    "soak": ProfileDefaults(users=50, duration_s=3600),
    # Open model: `users` is the pool that serves the arrival schedule (locustfiles/_arrivals.py).
    "arrival": ProfileDefaults(users=50, duration_s=300),
}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)
DEFAULT_PROFILE = "smoke"

# --- durations -------------------------------------------------------------------------------

_timespan: ModuleType | None = None


def _locust_timespan() -> ModuleType:
    """`locust.util.timespan`, without running `locust/__init__.py` when Locust is not loaded."""
    global _timespan
    if _timespan is None:
        loaded = sys.modules.get("locust.util.timespan")
        if loaded is None:
            spec = importlib.util.find_spec("locust")
            if spec is None or not spec.submodule_search_locations:
                raise RuntimeError("Locust is not installed: run `make bootstrap`")
            source = Path(next(iter(spec.submodule_search_locations))) / "util" / "timespan.py"
            file_spec = importlib.util.spec_from_file_location("_lab_locust_timespan", source)
            assert file_spec is not None
            assert file_spec.loader is not None
            loaded = importlib.util.module_from_spec(file_spec)
            file_spec.loader.exec_module(loaded)
        _timespan = loaded
    return _timespan


def parse_duration(text: str) -> int:
    """Seconds of a duration as Locust's `--run-time` reads it: 20, 20s, 3m, 2h, 1h20m, 3h30m10s.

    ValueError for anything Locust would refuse (e.g. `5m30`, `1.5h`, ` 5m`).
    """
    parse: Callable[[str], int] = _locust_timespan().parse_timespan
    return int(parse(text))


# `lab run` calls a run completed when it lasted its planned duration within this tolerance
# (Locust's shape ticks once a second, and the first users start a moment after the clock).
DURATION_TOLERANCE_MIN_S = 3.0
DURATION_TOLERANCE_RATIO = 0.02


def duration_tolerance_s(planned_s: float) -> float:
    return max(DURATION_TOLERANCE_MIN_S, DURATION_TOLERANCE_RATIO * planned_s)


# --- run ids and the run folder --------------------------------------------------------------

RUN_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[a-z0-9_]+-[0-9a-f]{4}$")
_PROFILE_PATTERN = re.compile(r"^[a-z0-9_]+$")


def new_run_id(profile: str, now: datetime | None = None) -> str:
    """`YYYYmmdd-HHMMSS-<profile>-<4 hex>` in UTC, e.g. `20260101-120000-load-3fa2`."""
    if not _PROFILE_PATTERN.match(profile):
        raise ValueError(f"profile name {profile!r} must be lower-case letters, digits or _")
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{profile}-{secrets.token_hex(2)}"


def is_run_id(name: str) -> bool:
    """A plain run-folder name: no separator, no `..`, nothing but the run id format."""
    return bool(RUN_ID_PATTERN.fullmatch(name))


SPANS_FOLDER = "spans"
PART_GLOB = "part-*.parquet"  # a complete Parquet part (atomic_write puts each in place)


class RunFolder:
    """Where each file of `runs/<run_id>/` lives; the only place these names are spelled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def meta(self) -> Path:
        return self.path / "meta.json"

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def targets(self) -> Path:
        return self.path / "targets.toml"

    @property
    def requests(self) -> Path:
        return self.path / "requests"

    def worker_requests(self, worker_id: str) -> Path:
        return self.requests / worker_id

    def worker_arrivals(self, worker_id: str) -> Path:
        """A worker's arrival counts (open model), beside its record parts."""
        return self.worker_requests(worker_id) / "arrivals.json"

    def arrival_counts(self) -> list[Path]:
        return sorted(self.requests.glob("*/arrivals.json"))

    def request_parts(self) -> list[Path]:
        return sorted(self.requests.glob(f"*/{PART_GLOB}"))

    # Browser users (issue 16): one row per page load and one per asset a page loaded,
    # in Parquet parts per worker like the request record (lab/schemas.py).
    @property
    def page_loads(self) -> Path:
        return self.path / "page_loads"

    def worker_page_loads(self, worker_id: str) -> Path:
        return self.page_loads / worker_id

    def page_load_parts(self) -> list[Path]:
        return sorted(self.page_loads.glob("*/part-*.parquet"))

    @property
    def page_assets(self) -> Path:
        return self.path / "page_assets"

    def worker_page_assets(self, worker_id: str) -> Path:
        return self.page_assets / worker_id

    def page_asset_parts(self) -> list[Path]:
        return sorted(self.page_assets.glob("*/part-*.parquet"))

    @property
    def transactions(self) -> Path:
        return self.path / "transactions"

    def worker_transactions(self, worker_id: str) -> Path:
        return self.transactions / worker_id

    def transaction_parts(self) -> list[Path]:
        return sorted(self.transactions.glob("*/part-*.parquet"))

    @property
    def spans(self) -> Path:
        return self.path / SPANS_FOLDER

    def span_parts(self) -> list[Path]:
        return sorted(self.spans.glob(PART_GLOB))

    @property
    def locust(self) -> Path:
        return self.path / "locust"

    @property
    def locust_csv_prefix(self) -> Path:
        return self.locust / "stats"

    @property
    def locust_history_csv(self) -> Path:
        return self.locust / "stats_stats_history.csv"

    @property
    def locust_html(self) -> Path:
        return self.locust / "report.html"

    @property
    def locust_log(self) -> Path:
        return self.locust / "locust.log"

    @property
    def report_html(self) -> Path:
        return self.path / "report.html"

    @property
    def summary_md(self) -> Path:
        return self.path / "summary.md"

    @property
    def report_json(self) -> Path:
        return self.path / "report.json"


def run_folder(runs_dir: Path, run_id: str) -> RunFolder:
    return RunFolder(runs_dir / run_id)


def span_parts_of_all_runs(runs_dir: Path) -> list[Path]:
    """Every run's span parts (the trace archive's query API searches them all)."""
    return sorted(runs_dir.glob(f"*/{SPANS_FOLDER}/{PART_GLOB}"))


DEFAULT_RUNS_DIR = "runs"  # relative to the working directory, like Locust's own paths
CREDENTIALS_FILE_NAME = "credentials.json"


def runs_dir_from(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The runs folder: `explicit`, else `$LAB_RUNS_DIR`, else `./runs`."""
    return Path(explicit or os.environ.get("LAB_RUNS_DIR") or DEFAULT_RUNS_DIR)


def credentials_file(runs_dir: Path) -> Path:
    """The seed's logins, beside the run folders."""
    return runs_dir / CREDENTIALS_FILE_NAME


# --- exit codes and statuses -----------------------------------------------------------------

EXIT_OK = 0
EXIT_BREACH = 1  # a target was breached, a significant regression, a leak
EXIT_BAD_INPUT = 2  # unknown run, corrupted input, refused comparison, forbidden target
EXIT_FAILED = EXIT_BREACH  # the seed: the work could not be done (any "not OK" reads 1)
EXIT_UNTRUSTWORTHY = 3  # the run is partial or the load generator was unhealthy
EXIT_INTERRUPTED = 130  # `lab run` stopped by Ctrl-C or SIGTERM: results kept, report written

STATUS_RUNNING = "running"  # meta.json while the run goes on (or after a crash of `lab run`)
STATUS_COMPLETED = "completed"  # run_finished written and the planned duration ran
STATUS_INTERRUPTED = "interrupted"  # stopped by Ctrl-C / SIGINT / SIGTERM (or the UI's stop)
STATUS_ABORTED = "aborted"  # the master or Compose died, the run ended short, or it was aborted
STATUS_FAILED_TO_START = "failed_to_start"  # the load never started
STATUSES = (
    STATUS_RUNNING,
    STATUS_COMPLETED,
    STATUS_INTERRUPTED,
    STATUS_ABORTED,
    STATUS_FAILED_TO_START,
)

# A run the master stopped on purpose writes a `run_aborted` event {"reason": ...} and ends
# `aborted`; the reasons:
ABORT_REASON_BREACH = "breach"  # --abort-on-breach: a target breached window after window

# Events (runs/<id>/events.jsonl, written by the master) after which the numbers may reflect
# the load generator rather than the app: a lost worker, a saturated CPU (Locust's one-reading
# 90 % warning, or the lab's 80 % for `generator_cpu_sustained_s`), requests missing from the
# record (`record_part_lost`: a remote worker's part never arrived whole), users that were
# not the planned ones, open-model arrivals that started late (`arrivals_late`).
UNTRUSTWORTHY_EVENTS = frozenset(
    {
        "cpu_warning",
        "generator_saturated",
        "worker_lost",
        "record_incomplete",
        "record_part_lost",
        "load_off_plan",
        "arrivals_late",
    }
)

# --- the events file (runs/<id>/events.jsonl) -----------------------------------------------
# One JSON object a line: {"ts": ISO 8601 UTC, "kind": str, "detail": object}. The master
# appends each line with one write to a file opened for appending (locustfiles/_events.py);
# a fault battery appends its fault windows the same way.


def event_line(kind: str, detail: dict[str, Any], at: datetime | None = None) -> str:
    """One line of an events file, without its newline."""
    moment = at or datetime.now(UTC)
    return json.dumps(
        {"ts": moment.isoformat(timespec="milliseconds"), "kind": kind, "detail": detail},
        sort_keys=True,
        default=str,
    )


class EventsRead(NamedTuple):
    events: list[dict[str, Any]]  # every well-formed event, in file order
    unreadable_lines: int  # lines that are not a JSON object with a "kind" (a torn last line)


def read_events(path: Path) -> EventsRead:
    """The events of an events file; a missing file has none, blank lines are skipped."""
    events: list[dict[str, Any]] = []
    unreadable = 0
    if not path.is_file():
        return EventsRead(events, unreadable)
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                str(event["kind"])
            except (ValueError, KeyError, TypeError):  # TypeError: not a JSON object
                unreadable += 1  # a torn last line after a crash
                continue
            events.append(event)
    return EventsRead(events, unreadable)


# --- open model (arrival schedules) ----------------------------------------------------------

# Tasks/s of the `arrival` profile when no rate is given (`--rate`, LAB_RATE).
DEFAULT_ARRIVAL_RATE = 10.0
# An arrival is late when its task starts more than this after its intended start (no free
# user, or a generator too busy to wake on time). 100 ms is well above gevent's wake-up jitter
# on a loaded 2-core machine (a few ms, bench-arrival) and well below the targets it protects.
LATE_ARRIVAL_S = 0.1
# More late arrivals than this share of the planned ones (late starts plus arrivals that never
# started) and the run did not apply the load it claims: `arrivals_late`, untrustworthy. In
# `stress`, counted up to the first step that broke a target (past it, lateness is the app's).
LATE_ARRIVAL_MAX_RATIO = 0.01
# The pool signs in before the first arrival: ramp time (users / spawn rate) plus this.
ARRIVAL_SIGN_IN_ALLOWANCE_S = 10.0

# --- the seed's credentials record -----------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """One seeded login, as `runs/credentials.json` lists it."""

    tenant_id: int
    tenant_slug: str
    email: str
    password: str
    role: str


# --- files -----------------------------------------------------------------------------------


def atomic_write(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Write through a temporary file, fsync it, rename it into place, fsync the folder.

    A reader sees the old file or the whole new one, and after a crash of the machine the
    new one is on disk once this returns. `mode` None: what the umask gives a new file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, mode if mode is not None else 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_temporaries(folder: Path, name_glob: str) -> list[Path]:
    """Temporary files `atomic_write` left in `folder` for targets matching `name_glob` (a
    process killed mid-write leaves one; the writer that owns the folder removes old ones)."""
    return sorted(folder.glob(f".{name_glob}.*.tmp"))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
