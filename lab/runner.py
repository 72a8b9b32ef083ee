"""`lab run`: start a Locust profile, show progress, stop cleanly on Ctrl-C, then report."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType

from lab.compose_files import compose_file_args, image_set
from lab.env_files import env_file_paths
from lab.errors import EXIT_BREACH, EXIT_INTERRUPTED, EXIT_OK, LabError
from lab.machine_load import LoadSampler
from lab.meta import REPO_ROOT, initial_meta, now_iso, read_env_files, write_meta
from lab.progress import format_line, read_latest
from lab.runs_dir import new_run_id, write_atomic
from lab.target_safety import check_target
from lab.targets import RUN_TARGETS_NAME, Targets, load_targets

PROFILES = ("smoke", "load", "stress", "spike", "soak")
# Profile lengths of locustfiles/_shapes.py: the hard stop when --duration is not given.
PROFILE_DEFAULT_SECONDS = {"smoke": 60, "load": 300, "stress": 600, "spike": 300, "soak": 3600}
GRACE_S = 120.0  # ramp-down, result flushing and report writing of Locust itself
# The app's batch span processor exports every 5 s and the archive flushes every 1 s:
# wait that long after Locust stops so the report sees the last requests' spans.
SPAN_SETTLE_S = 6.0
STOP_TIMEOUT_S = 30.0
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_duration(text: str) -> int:
    """'90s', '5m', '2h', '1h30m', '45' -> seconds."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise LabError(f"--duration {text!r}: expected e.g. 30s, 5m, 2h or 1h30m")
    h, m, s = (int(g or 0) for g in match.groups())
    return h * 3600 + m * 60 + s


@dataclass
class RunOptions:
    runs_root: Path
    profile: str
    users: int | None = None
    spawn_rate: float | None = None
    duration: str | None = None
    workers: int = 0
    scenario: str | None = None
    scale: str | None = None
    target: str | None = None
    allow_target: tuple[str, ...] = ()
    compose: bool = False
    trace_sample_ratio: float | None = None
    prometheus: str | None = None
    jaeger_url: str | None = None
    targets_file: Path | None = None
    target_overrides: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace, root: Path) -> RunOptions:
        return cls(
            runs_root=root,
            profile=args.profile,
            users=args.users,
            spawn_rate=args.spawn_rate,
            duration=args.duration,
            workers=args.workers,
            scenario=args.scenario,
            scale=args.scale,
            target=args.target,
            allow_target=tuple(args.allow_target),
            compose=args.compose,
            trace_sample_ratio=args.trace_sample_ratio,
            prometheus=args.prometheus,
            jaeger_url=args.jaeger_url,
            targets_file=args.targets,
            target_overrides=tuple(args.set),
        )

    @property
    def mode(self) -> str:
        return "compose" if self.compose else "local"

    @property
    def target_url(self) -> str:
        return self.target or ("http://app:8000" if self.compose else "http://127.0.0.1:8000")

    @property
    def duration_s(self) -> int:
        return (
            parse_duration(self.duration)
            if self.duration
            else PROFILE_DEFAULT_SECONDS[self.profile]
        )


def validate(opts: RunOptions) -> Targets:
    """Every check that can refuse the run, done before anything is created."""
    if opts.profile not in PROFILES:
        raise LabError(f"unknown profile {opts.profile!r}: choose one of {', '.join(PROFILES)}")
    check_target(opts.target_url, opts.allow_target)
    _ = opts.duration_s
    if opts.users is not None and opts.users <= 0:
        raise LabError("--users must be positive")
    if opts.workers < 0:
        raise LabError("--workers must not be negative")
    if opts.trace_sample_ratio is not None and not 0 <= opts.trace_sample_ratio <= 1:
        raise LabError("--trace-sample-ratio must be between 0 and 1")
    if opts.compose:
        if opts.target and opts.target_url != "http://app:8000":
            raise LabError(
                "--compose always targets the lab's app service; use --local for other targets"
            )
        if opts.runs_root.resolve() != (REPO_ROOT / "runs").resolve():
            raise LabError(
                "--compose writes to ./runs (mounted into the containers): unset LAB_RUNS_DIR"
            )
        if shutil.which("docker") is None:
            raise LabError("docker not found: install it (make lab-up explains) or use --local")
        image_set()  # an unknown LAB_IMAGES is refused before the run folder exists
    elif not (REPO_ROOT / "locustfiles").is_dir():
        raise LabError(f"no locustfiles/ in {REPO_ROOT}: nothing to run")
    return load_targets(None, opts.targets_file, list(opts.target_overrides))


def targets_toml(targets: Targets) -> str:
    """The resolved targets as a TOML file for the run folder (so reports are reproducible)."""
    sections: dict[str, list[str]] = {"targets": [], "n_plus_one": [], "soak": []}
    for f in fields(Targets):
        value = getattr(targets, f.name)
        text = f'"{value}"' if isinstance(value, str) else repr(value)
        if f.name.startswith("n_plus_one_"):
            sections["n_plus_one"].append(f"{f.name.removeprefix('n_plus_one_')} = {text}")
        elif f.name in {
            "page_p95_ms",
            "api_p95_ms",
            "db_query_p95_ms",
            "failure_ratio",
            "api_prefix",
        }:
            sections["targets"].append(f"{f.name} = {text}")
        else:
            sections["soak"].append(f"{f.name} = {text}")
    body = "\n\n".join(f"[{name}]\n" + "\n".join(lines) for name, lines in sections.items())
    return "# Targets this run was judged against (written by lab run).\n\n" + body + "\n"


def locust_program() -> str:
    beside = Path(sys.executable).with_name("locust")
    found = str(beside) if beside.exists() else shutil.which("locust")
    if not found:
        raise LabError("locust not found: run `make bootstrap` (installs requirements/dev.txt)")
    return found


def lab_env(opts: RunOptions, run_id: str, runs_dir: str) -> dict[str, str]:
    env = {
        "LAB_PROFILE": opts.profile,
        "LAB_RUN_ID": run_id,
        "LAB_RUNS_DIR": runs_dir,
        "LAB_USERS": str(opts.users or ""),
        "LAB_SPAWN_RATE": "" if opts.spawn_rate is None else f"{opts.spawn_rate:g}",
        "LAB_DURATION": opts.duration or "",
        "LAB_SCENARIO": opts.scenario or "",
        "LAB_WORKERS": str(opts.workers or 1),
        # Locust checks the target again at every test start (locustfiles/_guard.py).
        "LAB_ALLOW_TARGETS": ",".join(opts.allow_target),
    }
    if opts.trace_sample_ratio is not None:
        env["LAB_TRACE_SAMPLE_RATIO"] = f"{opts.trace_sample_ratio:g}"
    if opts.trace_sample_ratio == 0:
        # Ratio 0 means no tracing cost (lab ab's timing runs): no tail sampling either, which
        # would trace every task. Only slow and failed traces: LAB_TRACE_SAMPLE_RATIO=0 with
        # LAB_TRACE_TAIL=1 in the environment, without --trace-sample-ratio.
        env["LAB_TRACE_TAIL"] = "0"
    if opts.scale:
        env["LAB_SCALE"] = opts.scale
    # Unset knobs stay unset: Locust's typed flags reject empty strings, and the profile decides.
    return {k: v for k, v in env.items() if v}


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """Our environment without empty LAB_* values (e.g. `USERS=` from Make), plus `extra`."""
    base = {k: v for k, v in os.environ.items() if not (k.startswith("LAB_") and not v)}
    return {**base, **extra}


def local_commands(opts: RunOptions, run_dir: Path) -> list[list[str]]:
    """The single Locust process, or a master plus `workers` worker processes."""
    locust = locust_program()
    base = [locust, "-f", str(REPO_ROOT / "locustfiles")]
    out = run_dir / "locust"
    master = [*base, "--headless", "--host", opts.target_url, "--csv", str(out / "stats"),
              "--html", str(out / "report.html")]  # fmt: skip
    if opts.workers == 0:
        return [master]
    port = _free_port()
    master += ["--master", "--expect-workers", str(opts.workers),
               "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]  # fmt: skip
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    return [master] + [list(worker) for _ in range(opts.workers)]


def compose_command() -> list[str]:
    """Foreground `up` of master and workers: the master's exit code becomes ours.

    The files follow `LAB_IMAGES` (the offline set adds its override), as `make lab-up` does.
    Not `--exit-code-from`: it stops everything at the first container exit, and the workers
    quit (code 0) before the master has written its CSV and HTML report.
    `--abort-on-container-failure` waits for all of them and returns the first failure's code.
    """
    command = ["docker", "compose", *compose_file_args()]
    for path in env_file_paths():
        command += ["--env-file", str(path)]
    return [*command, "up", "--no-deps", "--force-recreate", "--abort-on-container-failure",
            "locust-master", "locust-worker"]  # fmt: skip


# Containers never run as root (scripts/lab-env.sh maps root to this id, as here).
UNPRIVILEGED_ID = 10001


def container_ids() -> tuple[int, int]:
    """The uid and gid the lab's containers run as: LAB_UID/LAB_GID, root mapped away."""
    settings = {**read_env_files(), **{k: v for k, v in os.environ.items() if v}}

    def unprivileged(name: str) -> int:
        raw = settings.get(name, "")
        return int(raw) if raw.isdigit() and int(raw) != 0 else UNPRIVILEGED_ID

    return unprivileged("LAB_UID"), unprivileged("LAB_GID")


def hand_to_containers(run_dir: Path, uid: int, gid: int) -> None:
    """Run as root, the folder we just made must become writable by the containers' user."""
    if os.geteuid() != 0:
        return
    for path in [run_dir, *run_dir.rglob("*")]:
        os.chown(path, uid, gid)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Processes:
    """The processes of one run, each in its own session so only we decide when they stop."""

    def __init__(self, commands: list[list[str]], env: dict[str, str], log_path: Path) -> None:
        self.log = log_path.open("ab")
        self.procs: list[subprocess.Popen[bytes]] = []
        for command in commands:
            self.procs.append(
                subprocess.Popen(  # noqa: S603 - our own argv, no shell
                    command,
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=self.log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    @property
    def main(self) -> subprocess.Popen[bytes]:
        return self.procs[0]

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (Locust flushes its CSV, HTML and records), SIGKILL after `timeout_s`."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def wait_workers(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        for proc in self.procs[1:]:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=STOP_TIMEOUT_S)
        self.log.close()


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _watch(procs: _Processes, history: Path, deadline: float, started: float) -> str:
    """Show progress until Locust exits; returns 'completed', 'interrupted' or 'timeout'."""
    tty = sys.stdout.isatty()
    last_print = 0.0
    while procs.main.poll() is None:
        now = time.monotonic()
        if now > deadline:
            print("\nrun exceeded its duration plus grace: stopping Locust", file=sys.stderr)
            procs.stop()
            return "timeout"
        if tty or now - last_print >= 15:
            line = format_line(read_latest(history), now - started)
            print(f"\r{line}\033[K" if tty else line, end="" if tty else "\n", flush=True)
            last_print = now
        time.sleep(1.0)
    if tty:
        print()
    return "completed"


def run_profile(opts: RunOptions) -> int:
    targets = validate(opts)
    run_id = new_run_id(opts.profile)
    run_dir = opts.runs_root / run_id
    (run_dir / "locust").mkdir(parents=True)
    write_atomic(run_dir / RUN_TARGETS_NAME, targets_toml(targets))
    if opts.compose:
        commands = [compose_command()]
        uid, gid = container_ids()
        env = child_env(
            {**lab_env(opts, run_id, "/srv/lab/runs"), "LAB_UID": str(uid), "LAB_GID": str(gid)}
        )
        hand_to_containers(run_dir, uid, gid)
    else:
        commands = local_commands(opts, run_dir)
        paths = [str(REPO_ROOT / "app"), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
        env = child_env(
            {
                **lab_env(opts, run_id, str(opts.runs_root.resolve())),
                "PYTHONPATH": os.pathsep.join(p for p in paths if p),
                # Any free port: other engineers' Locust runs share this machine.
                "LAB_LOCUST_METRICS_PORT": os.environ.get("LAB_LOCUST_METRICS_PORT") or "0",
                # The app (dev-app or the Compose lab) trusts this run's requests only with
                # the install's run-token key (lab/run_token.py), kept in .env.
                "LAB_RUN_TOKEN_KEY": os.environ.get("LAB_RUN_TOKEN_KEY")
                or read_env_files().get("LAB_RUN_TOKEN_KEY", ""),
            }
        )
    meta = initial_meta(
        run_id=run_id,
        profile=opts.profile,
        users=opts.users,
        spawn_rate=opts.spawn_rate,
        duration=opts.duration,
        workers=opts.workers,
        scenario=opts.scenario,
        scale=opts.scale,
        target=opts.target_url,
        mode=opts.mode,
        command=commands[0],
    )
    write_meta(run_dir, meta)
    print(
        f"run {run_id}: profile {opts.profile} against {opts.target_url} ({opts.mode}); "
        f"results in {run_dir}"
    )
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    procs = _Processes(commands, env, run_dir / "locust" / "locust.log")
    sampler = LoadSampler(p.pid for p in procs.procs).start()
    try:
        try:
            outcome = _watch(procs, run_dir / "locust" / "stats_stats_history.csv",
                             started + opts.duration_s + GRACE_S, started)  # fmt: skip
        except KeyboardInterrupt:
            print("\ninterrupted: stopping Locust cleanly (results are kept)...", file=sys.stderr)
            outcome = "interrupted"
            try:
                procs.stop()
            except KeyboardInterrupt:
                for proc in procs.procs:
                    proc.kill()
        procs.wait_workers()
    finally:
        signal.signal(signal.SIGTERM, previous)
    exit_code = procs.main.returncode
    meta.update(ended_at=now_iso(), locust_exit_code=exit_code, machine_load=sampler.stop())
    has_records = any((run_dir / "requests").glob("*/part-*.parquet"))
    if outcome == "completed":
        meta["status"] = "completed" if has_records or exit_code in (0, 1) else "failed"
    else:
        meta["status"] = "interrupted"
    write_meta(run_dir, meta)
    if meta["status"] == "failed":
        print(
            f"Locust exited with {exit_code}; its log: {run_dir / 'locust' / 'locust.log'}",
            file=sys.stderr,
        )
    if meta["status"] != "failed" and opts.trace_sample_ratio != 0:  # no spans at ratio 0
        print(f"waiting {SPAN_SETTLE_S:.0f} s for the last spans to reach the trace archive...")
        time.sleep(SPAN_SETTLE_S)
    from lab.report import run_report  # the report needs DuckDB; import it when the load is over

    code = run_report(
        run_dir, targets=targets, prometheus_url=opts.prometheus, jaeger_url=opts.jaeger_url
    )
    if outcome != "completed":
        return EXIT_INTERRUPTED
    if code == EXIT_OK and exit_code not in (0, None):
        print(
            f"Locust reported a failed check or error (exit {exit_code}): "
            f"see {run_dir / 'locust' / 'locust.log'}"
        )
        return EXIT_BREACH
    return code
