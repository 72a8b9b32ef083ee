"""The lab's knobs: one `--lab-*` Locust flag per `LAB_*` environment variable.

Flags are registered on Locust's parser, so a master ships their values to its
workers with every spawn message: a worker always records under the master's
run id, profile and sampling ratio.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locust import events

from lab.contract import (
    DEFAULT_ARRIVAL_RATE,
    DEFAULT_PROFILE,
    DEFAULT_RUNS_DIR,
    PROFILE_NAMES,
    RunFolder,
    credentials_file,
    is_run_id,
    parse_duration,
)

DEFAULT_METRICS_PORT = 9646
BROWSER_SCENARIO = "BrowserUser"  # locustfiles/_browser_scenario.py
DEFAULT_TRACE_SAMPLE_RATIO = 0.1
# Locust's default is 3 heartbeats (3 s): on a busy 2-core machine a worker busy with its
# users misses that often and is wrongly called missing; 10 s still finds a dead one fast.
DEFAULT_HEARTBEAT_LIVENESS = 10


def _number(cast: type[int] | type[float], default: float) -> Any:
    """A flag type that reads an empty value (an unset Compose knob) as the default."""

    def parse(text: str) -> float:
        return cast(text) if str(text).strip() else cast(default)

    parse.__name__ = cast.__name__
    return parse


@events.init_command_line_parser.add_listener
def _register_flags(parser: Any, **_kwargs: Any) -> None:
    group = parser.add_argument_group(
        "lab", "Jewelry performance lab (each flag = a LAB_* variable)"
    )
    group.add_argument(
        "--lab-profile",
        env_var="LAB_PROFILE",
        default=DEFAULT_PROFILE,
        choices=PROFILE_NAMES,
        help="load shape: " + ", ".join(PROFILE_NAMES),
    )
    group.add_argument(
        "--lab-users",
        env_var="LAB_USERS",
        type=_number(int, 0),
        default=0,
        help="peak users (0 = profile default)",
    )
    group.add_argument(
        "--lab-spawn-rate",
        env_var="LAB_SPAWN_RATE",
        type=_number(float, 0.0),
        default=0.0,
        help="users started per second (0 = profile default)",
    )
    group.add_argument(
        "--lab-duration",
        env_var="LAB_DURATION",
        default="",
        help="run length, e.g. 90s, 5m, 2h (empty = profile default)",
    )
    group.add_argument(
        "--lab-scenario", env_var="LAB_SCENARIO", default="", help="run only this user class"
    )
    group.add_argument(
        "--lab-browsers",
        env_var="LAB_BROWSERS",
        type=_number(int, 0),
        default=0,
        help="of the users, this many are BrowserUser (real Chromium; 0 = none)",
    )
    group.add_argument("--lab-run-id", env_var="LAB_RUN_ID", default="", help="run id")
    group.add_argument(
        "--lab-runs-dir",
        env_var="LAB_RUNS_DIR",
        default=DEFAULT_RUNS_DIR,
        help="folder of run folders",
    )
    group.add_argument(
        "--lab-trace-sample-ratio",
        env_var="LAB_TRACE_SAMPLE_RATIO",
        type=_number(float, DEFAULT_TRACE_SAMPLE_RATIO),
        default=DEFAULT_TRACE_SAMPLE_RATIO,
        help="share of tasks traced (TraceIdRatio), 0..1",
    )
    group.add_argument(
        "--lab-locust-metrics-port",
        env_var="LAB_LOCUST_METRICS_PORT",
        type=_number(int, DEFAULT_METRICS_PORT),
        default=DEFAULT_METRICS_PORT,
        help="Prometheus endpoint of the master (0 = any free port, -1 = off)",
    )
    group.add_argument(
        "--lab-locust-metrics-host",
        env_var="LAB_LOCUST_METRICS_HOST",
        default="127.0.0.1",  # the Compose lab sets 0.0.0.0: Prometheus is another container
        help="interface of the Prometheus endpoint",
    )
    group.add_argument(
        "--lab-heartbeat-liveness",
        env_var="LAB_HEARTBEAT_LIVENESS",
        type=_number(int, DEFAULT_HEARTBEAT_LIVENESS),
        default=DEFAULT_HEARTBEAT_LIVENESS,
        help="seconds without a worker's heartbeat before the master calls it missing",
    )
    group.add_argument(
        "--lab-rate",
        env_var="LAB_RATE",
        type=_number(float, 0.0),
        default=0.0,
        help="open model: peak task arrivals per second, all workers together "
        "(profile arrival; stress steps up to it; 0 = arrival's default, stress closed)",
    )
    group.add_argument(
        "--lab-model",
        env_var="LAB_MODEL",
        default="open",
        choices=("open", "closed"),
        help="profile arrival: open (a schedule of arrivals) or closed (each user paced at "
        "rate/users by Locust's constant_throughput, as a closed-loop generator does)",
    )
    group.add_argument(
        "--lab-record-flush-seconds",
        env_var="LAB_RECORD_FLUSH_SECONDS",
        type=_number(float, 2.0),
        default=2.0,
        help="per-request record: write a Parquet part at least this often",
    )


@dataclass(frozen=True)
class LabSettings:
    profile: str
    users: int
    spawn_rate: float
    duration_s: int
    scenario: str
    run_id: str
    runs_dir: Path
    trace_sample_ratio: float
    metrics_port: int
    metrics_host: str
    record_flush_seconds: float
    heartbeat_liveness: int = DEFAULT_HEARTBEAT_LIVENESS
    browsers: int = 0
    rate: float = 0.0  # tasks/s, all workers; 0 = closed model (or arrival's default)
    model: str = "open"

    @property
    def arrival_mode(self) -> str | None:
        """ "open" (arrival schedule), "paced" (closed loop at the rate), or None (users)."""
        if self.profile == "arrival":
            return "open" if self.model == "open" else "paced"
        if self.profile == "stress" and self.rate > 0:
            return "open"
        return None

    @property
    def arrival_rate(self) -> float:
        return self.rate or DEFAULT_ARRIVAL_RATE

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.runs_dir / self.run_id)

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def events_file(self) -> Path:
        return self.folder.events

    @property
    def credentials_file(self) -> Path:
        return credentials_file(self.runs_dir)


class SettingsError(ValueError):
    """A knob has a value the lab cannot use; the message says which and how to fix it."""


def settings_from_options(options: Any) -> LabSettings:
    """Validated settings from Locust's parsed options (flags, environment, defaults)."""
    duration_text = str(getattr(options, "lab_duration", "") or "").strip()
    try:
        duration_s = parse_duration(duration_text) if duration_text else 0
    except ValueError as exc:
        raise SettingsError(
            f"LAB_DURATION={duration_text!r} is not a duration; use e.g. 90s, 5m, 1h30m"
        ) from exc
    ratio = float(getattr(options, "lab_trace_sample_ratio", DEFAULT_TRACE_SAMPLE_RATIO))
    if not 0.0 <= ratio <= 1.0:
        raise SettingsError(f"LAB_TRACE_SAMPLE_RATIO={ratio} must be between 0 and 1")
    users = int(getattr(options, "lab_users", 0) or 0)
    spawn_rate = float(getattr(options, "lab_spawn_rate", 0.0) or 0.0)
    if users < 0 or spawn_rate < 0:
        raise SettingsError("LAB_USERS and LAB_SPAWN_RATE must not be negative")
    browsers = int(getattr(options, "lab_browsers", 0) or 0)
    if browsers < 0:
        raise SettingsError(f"LAB_BROWSERS={browsers} must not be negative")
    run_id = str(getattr(options, "lab_run_id", "") or "")
    if run_id and not is_run_id(run_id):
        raise SettingsError(
            f"LAB_RUN_ID={run_id!r} is not a run id (YYYYmmdd-HHMMSS-<profile>-<4 hex>)"
        )
    flush = float(getattr(options, "lab_record_flush_seconds", 2.0) or 2.0)
    rate = float(getattr(options, "lab_rate", 0.0) or 0.0)
    model = str(getattr(options, "lab_model", "open") or "open")
    if rate < 0 or model not in ("open", "closed"):
        raise SettingsError("LAB_RATE must not be negative; LAB_MODEL is open or closed")
    return LabSettings(
        profile=str(getattr(options, "lab_profile", DEFAULT_PROFILE) or DEFAULT_PROFILE),
        users=users,
        spawn_rate=spawn_rate,
        duration_s=int(duration_s),
        scenario=str(getattr(options, "lab_scenario", "") or ""),
        run_id=run_id,
        runs_dir=Path(str(getattr(options, "lab_runs_dir", "") or DEFAULT_RUNS_DIR)),
        trace_sample_ratio=ratio,
        metrics_port=int(getattr(options, "lab_locust_metrics_port", DEFAULT_METRICS_PORT)),
        metrics_host=str(getattr(options, "lab_locust_metrics_host", "127.0.0.1")),
        record_flush_seconds=max(0.1, flush),
        browsers=browsers,
        rate=rate,
        model=model,
        heartbeat_liveness=max(
            1,
            int(
                getattr(options, "lab_heartbeat_liveness", DEFAULT_HEARTBEAT_LIVENESS)
                or DEFAULT_HEARTBEAT_LIVENESS
            ),
        ),
    )


def browsers_wanted(environ: Any = os.environ) -> bool:
    """Browser users asked for (LAB_BROWSERS > 0 or LAB_SCENARIO=BrowserUser), read at import
    time by locustfiles/browser_users.py: every process of a run gets the same environment
    (`lab run`, the Compose lab), so master and workers define the same user classes."""
    if str(environ.get("LAB_SCENARIO", "")).strip() == BROWSER_SCENARIO:
        return True
    try:
        return int(str(environ.get("LAB_BROWSERS", "") or 0)) > 0
    except ValueError:
        return False  # settings_from_options refuses it, in one line


def settings_from_environ() -> LabSettings:
    """Settings from `LAB_*` variables alone (run_single_user, benchmarks)."""

    class _Env:
        pass

    env = _Env()
    mapping = {
        "lab_profile": ("LAB_PROFILE", DEFAULT_PROFILE),
        "lab_users": ("LAB_USERS", "0"),
        "lab_spawn_rate": ("LAB_SPAWN_RATE", "0"),
        "lab_duration": ("LAB_DURATION", ""),
        "lab_scenario": ("LAB_SCENARIO", ""),
        "lab_browsers": ("LAB_BROWSERS", "0"),
        "lab_run_id": ("LAB_RUN_ID", ""),
        "lab_runs_dir": ("LAB_RUNS_DIR", DEFAULT_RUNS_DIR),
        "lab_trace_sample_ratio": ("LAB_TRACE_SAMPLE_RATIO", str(DEFAULT_TRACE_SAMPLE_RATIO)),
        "lab_locust_metrics_port": ("LAB_LOCUST_METRICS_PORT", str(DEFAULT_METRICS_PORT)),
        "lab_locust_metrics_host": ("LAB_LOCUST_METRICS_HOST", "127.0.0.1"),
        "lab_record_flush_seconds": ("LAB_RECORD_FLUSH_SECONDS", "2"),
        "lab_heartbeat_liveness": ("LAB_HEARTBEAT_LIVENESS", str(DEFAULT_HEARTBEAT_LIVENESS)),
        "lab_rate": ("LAB_RATE", "0"),
        "lab_model": ("LAB_MODEL", "open"),
    }
    casts = {
        "lab_users": int,
        "lab_browsers": int,
        "lab_spawn_rate": float,
        "lab_trace_sample_ratio": float,
        "lab_locust_metrics_port": int,
        "lab_record_flush_seconds": float,
        "lab_heartbeat_liveness": int,
        "lab_rate": float,
    }
    for attr, (var, default) in mapping.items():
        raw = os.environ.get(var, default)
        try:
            value = casts.get(attr, str)(raw)
        except ValueError as exc:
            raise SettingsError(f"{var}={raw!r} is not a number") from exc
        setattr(env, attr, value)
    return settings_from_options(env)
