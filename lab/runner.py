"""`lab run`: start a Locust profile, show progress, stop cleanly on Ctrl-C, then report."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from lab.compose_files import image_set
from lab.compose_run import RUN_KNOBS, ComposeRun
from lab.contract import (
    ABORT_REASON_BREACH,
    DEFAULT_RUNS_DIR,
    EXIT_BREACH,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNTRUSTWORTHY,
    PROFILE_NAMES,
    PROFILES,
    STATUS_ABORTED,
    STATUS_FAILED_TO_START,
    STATUS_INTERRUPTED,
    RunFolder,
    atomic_write,
    new_run_id,
)
from lab.contract import parse_duration as parse_locust_duration
from lab.errors import LabError
from lab.health import breach_abort, read_events, status_from_events
from lab.machine_load import LoadSampler
from lab.meta import REPO_ROOT, initial_meta, now_iso, read_env_files, write_meta
from lab.progress import format_line, read_latest
from lab.target_safety import check_target
from lab.targets import Targets, load_targets, to_toml

GRACE_S = 120.0  # ramp-down, result flushing and report writing of Locust itself
# The app's batch span processor exports every 5 s and the archive flushes every 1 s:
# wait that long after Locust stops so the report sees the last requests' spans.
SPAN_SETTLE_S = 6.0
STOP_TIMEOUT_S = 30.0


def parse_duration(text: str) -> int:
    """Seconds of `--duration`, accepted exactly when Locust's `--run-time` accepts it."""
    try:
        return parse_locust_duration(text)
    except ValueError:
        raise LabError(
            f"--duration {text!r}: not a duration Locust accepts (e.g. 90, 30s, 5m, 2h, 1h30m)"
        ) from None


@dataclass
class RunOptions:
    runs_root: Path
    profile: str
    users: int | None = None
    spawn_rate: float | None = None
    duration: str | None = None
    workers: int = 0
    scenario: str | None = None
    browsers: int = 0
    scale: str | None = None
    target: str | None = None
    allow_target: tuple[str, ...] = ()
    compose: bool = False
    trace_sample_ratio: float | None = None
    prometheus: str | None = None
    jaeger_url: str | None = None
    targets_file: Path | None = None
    target_overrides: tuple[str, ...] = ()
    abort_on_breach: bool = False  # stop early once a target is breached ([abort] of targets)
    rate: float | None = None  # open model: tasks/s (profile arrival; stress steps up to it)
    model: str = "open"

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
            browsers=getattr(args, "browsers", 0) or 0,
            scale=args.scale,
            target=args.target,
            allow_target=tuple(args.allow_target),
            compose=not args.local,  # compose unless --local (see lab/__main__.py)
            trace_sample_ratio=args.trace_sample_ratio,
            prometheus=args.prometheus,
            jaeger_url=args.jaeger_url,
            targets_file=args.targets,
            target_overrides=tuple(args.set),
            abort_on_breach=bool(getattr(args, "abort_on_breach", False)),
            rate=getattr(args, "rate", None),
            model=getattr(args, "model", None) or "open",
        )

    @property
    def mode(self) -> str:
        return "compose" if self.compose else "local"

    @property
    def target_url(self) -> str:
        return self.target or ("http://app:8000" if self.compose else "http://127.0.0.1:8000")

    @property
    def duration_s(self) -> int:
        return parse_duration(self.duration) if self.duration else PROFILES[self.profile].duration_s


def validate(opts: RunOptions) -> Targets:
    """Every check that can refuse the run, done before anything is created."""
    if opts.profile not in PROFILE_NAMES:
        raise LabError(
            f"unknown profile {opts.profile!r}: choose one of {', '.join(PROFILE_NAMES)}"
        )
    check_target(opts.target_url, opts.allow_target)
    _ = opts.duration_s
    if opts.users is not None and opts.users <= 0:
        raise LabError("--users must be positive")
    if opts.rate is not None and opts.rate <= 0:
        raise LabError("--rate must be positive (tasks per second)")
    if opts.rate is not None and opts.profile not in ("arrival", "stress"):
        raise LabError("--rate needs --profile arrival or stress (the others are closed loops)")
    if opts.workers < 0:
        raise LabError("--workers must not be negative")
    if opts.browsers < 0:
        raise LabError("--browsers must not be negative")
    if opts.users is not None and opts.browsers > opts.users:
        raise LabError(f"--browsers {opts.browsers} is more than --users {opts.users}")
    if opts.trace_sample_ratio is not None and not 0 <= opts.trace_sample_ratio <= 1:
        raise LabError("--trace-sample-ratio must be between 0 and 1")
    if opts.compose:
        if opts.target and opts.target_url != "http://app:8000":
            raise LabError(
                "--compose always targets the lab's app service; use --local for other targets"
            )
        if opts.runs_root.resolve() != (REPO_ROOT / DEFAULT_RUNS_DIR).resolve():
            raise LabError(
                "--compose writes to ./runs (mounted into the containers): unset LAB_RUNS_DIR"
            )
        if shutil.which("docker") is None:
            raise LabError("docker not found: install it (make lab-up explains) or use --local")
        image_set()  # an unknown LAB_IMAGES is refused before the run folder exists
    elif not (REPO_ROOT / "locustfiles").is_dir():
        raise LabError(f"no locustfiles/ in {REPO_ROOT}: nothing to run")
    # --abort-on-breach is `abort_on_breach = true` in the run's own targets.toml, which the
    # Locust master reads (locally or in its container): no knob of its own to hand over.
    overrides = [
        *opts.target_overrides,
        *(["abort_on_breach=true"] if opts.abort_on_breach else []),
    ]
    return load_targets(None, opts.targets_file, overrides)


def targets_toml(targets: Targets) -> str:
    """The resolved targets as a TOML file for the run folder (so reports are reproducible)."""
    return to_toml(targets)


def locust_program() -> str:
    beside = Path(sys.executable).with_name("locust")
    found = str(beside) if beside.exists() else shutil.which("locust")
    if not found:
        raise LabError("locust not found: run `make bootstrap` (installs requirements/dev.txt)")
    return found


# The Compose lab's Locust worker memory limit (docker-compose.perf.yml, LAB_LOCUST_MEM):
# a run with browser users raises it by one browser's worth per browser the worker runs, so
# the cap scales with what a worker carries (measured: README, "Browser users").
WORKER_MEM_MIB = 512
BROWSER_USER_MEM_MIB = 512


def worker_mem_limit(browsers: int, workers: int) -> str | None:
    """`LAB_LOCUST_WORKER_MEM` for a Compose run with `browsers` browser users, else None."""
    if browsers <= 0:
        return None
    per_worker = -(-browsers // max(1, workers))  # Locust spreads users across workers
    per_browser = int(os.environ.get("LAB_BROWSER_MEM_MIB") or BROWSER_USER_MEM_MIB)
    return f"{WORKER_MEM_MIB + per_worker * per_browser}m"


def lab_env(opts: RunOptions, run_id: str, runs_dir: str) -> dict[str, str]:
    env = {
        "LAB_PROFILE": opts.profile,
        "LAB_RUN_ID": run_id,
        "LAB_RUNS_DIR": runs_dir,
        "LAB_USERS": str(opts.users or ""),
        "LAB_SPAWN_RATE": "" if opts.spawn_rate is None else f"{opts.spawn_rate:g}",
        "LAB_DURATION": opts.duration or "",
        "LAB_SCENARIO": opts.scenario or "",
        "LAB_BROWSERS": str(opts.browsers or ""),
        "LAB_WORKERS": str(opts.workers or 1),
        "LAB_RATE": "" if opts.rate is None else f"{opts.rate:g}",
        "LAB_MODEL": opts.model,
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
    if opts.compose:
        users = opts.users or PROFILES[opts.profile].users
        browsers = users if opts.scenario == "BrowserUser" else opts.browsers
        env["LAB_LOCUST_WORKER_MEM"] = worker_mem_limit(browsers, opts.workers) or ""
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
    folder = RunFolder(run_dir)
    master = [*base, "--headless", "--host", opts.target_url,
              "--csv", str(folder.locust_csv_prefix),
              "--html", str(folder.locust_html)]  # fmt: skip
    if opts.workers == 0:
        return [master]
    port = _free_port()
    master += ["--master", "--expect-workers", str(opts.workers),
               "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]  # fmt: skip
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    return [master] + [list(worker) for _ in range(opts.workers)]


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

    def poll(self) -> int | None:
        return self.main.poll()

    @property
    def returncode(self) -> int | None:
        return self.main.returncode

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


def _watch(procs: _Processes | ComposeRun, history: Path, deadline: float, started: float) -> str:
    """Show progress until Locust's master exits; 'ended', or 'timeout' when it overran."""
    tty = sys.stdout.isatty()
    last_print = 0.0
    while procs.poll() is None:
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
    return "ended"


def _start(
    opts: RunOptions, run_id: str, folder: RunFolder
) -> tuple[_Processes | ComposeRun, list[str]]:
    """The run's Locust processes (or containers), started; their command for meta.json."""
    if opts.compose:
        uid, gid = container_ids()
        env = child_env(
            {**lab_env(opts, run_id, "/srv/lab/runs"), "LAB_UID": str(uid), "LAB_GID": str(gid)}
        )
        hand_to_containers(folder.path, uid, gid)
        ui_env = {k: v for k, v in child_env({}).items() if k not in RUN_KNOBS}
        compose = ComposeRun(env, ui_env, opts.workers, folder.locust_log)
        return compose, [*compose.base, "up", "-d", "locust-master", "locust-worker"]
    commands = local_commands(opts, folder.path)
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
    return _Processes(commands, env, folder.locust_log), commands[0]


def run_profile(opts: RunOptions) -> int:
    targets = validate(opts)
    run_id = new_run_id(opts.profile)
    folder = RunFolder(opts.runs_root / run_id)
    folder.locust.mkdir(parents=True)
    atomic_write(folder.targets, targets_toml(targets))
    procs, command = _start(opts, run_id, folder)
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
        command=command,
    )
    write_meta(folder.path, meta)
    print(
        f"run {run_id}: profile {opts.profile} against {opts.target_url} ({opts.mode}); "
        f"results in {folder.path}"
    )
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    start_error: str | None = None
    # Machine load during the run (lab.machine_load); the run's own local processes, if any,
    # are told apart from the rest of the machine.
    sampler = LoadSampler(p.pid for p in getattr(procs, "procs", [])).start()
    try:
        try:
            if isinstance(procs, ComposeRun):
                procs.start()
            outcome = _watch(procs, folder.locust_history_csv,
                             started + opts.duration_s + GRACE_S, started)  # fmt: skip
        except KeyboardInterrupt:
            print("\ninterrupted: stopping Locust cleanly (results are kept)...", file=sys.stderr)
            interrupted = True
            outcome = "interrupted"
            _stop_quietly(procs)
        except LabError as exc:  # Compose could not start the run's containers
            start_error = exc.message
            outcome = "failed"
        try:
            procs.wait_workers()
        except KeyboardInterrupt:
            interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous)
    restored = None
    if isinstance(procs, ComposeRun):
        try:
            restored = procs.restore()
        except LabError as exc:
            restored = f"could not put the lab's Locust UI back: {exc.message}"
    exit_code = procs.returncode
    status = status_from_events(folder.events, interrupted=interrupted)
    if outcome == "timeout" and status != STATUS_FAILED_TO_START:
        status = STATUS_ABORTED  # it overran its plan by the grace: something hung
    meta.update(
        ended_at=now_iso(), locust_exit_code=exit_code, status=status, machine_load=sampler.stop()
    )
    if start_error:
        meta["error"] = start_error
    aborted_on = breach_abort(read_events(folder.events)[0]) if status == STATUS_ABORTED else None
    if aborted_on is not None:
        meta["abort_reason"] = ABORT_REASON_BREACH
    write_meta(folder.path, meta)
    if restored:
        print(restored)
    if aborted_on is not None:
        print(f"run aborted on breach: {aborted_on}", file=sys.stderr)
    elif status in (STATUS_FAILED_TO_START, STATUS_ABORTED):
        print(
            f"run {status}: Locust exited with {exit_code}"
            + (f" ({start_error})" if start_error else "")
            + f"; its log: {folder.locust_log}",
            file=sys.stderr,
        )
    if status != STATUS_FAILED_TO_START and opts.trace_sample_ratio != 0:  # no spans at 0
        print(f"waiting {SPAN_SETTLE_S:.0f} s for the last spans to reach the trace archive...")
        time.sleep(SPAN_SETTLE_S)
    from lab.report import run_report  # the report needs DuckDB; import it when the load is over

    code = run_report(
        folder.path, targets=targets, prometheus_url=opts.prometheus, jaeger_url=opts.jaeger_url
    )
    if status == STATUS_INTERRUPTED:
        return EXIT_INTERRUPTED
    if code == EXIT_OK and exit_code == EXIT_UNTRUSTWORTHY:
        return EXIT_UNTRUSTWORTHY
    if code == EXIT_OK and exit_code not in (0, None):
        print(
            f"Locust reported a failed check or error (exit {exit_code}): see {folder.locust_log}"
        )
        return EXIT_BREACH
    return code


def _stop_quietly(procs: _Processes | ComposeRun) -> None:
    """Stop the run; a second Ctrl-C kills it (results flushed so far stay)."""
    try:
        procs.stop()
    except KeyboardInterrupt:
        if isinstance(procs, _Processes):
            for proc in procs.procs:
                proc.kill()
        else:
            procs.stop(timeout_s=1)
