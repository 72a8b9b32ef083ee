"""`lab run --compose`: the run's Locust master and workers as the lab's Compose services.

The run replaces the lab's web UI master and workers (same service names, so Prometheus
scrapes the run's master and the workers find it), and puts them back as they were once the
run is over. Containers are started detached (`up -d`), not with `--abort-on-container-failure`:
one dead worker must not stop the master and the others (the master records `worker_lost`
and goes on to the planned end). The run is over when the master's container exits.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from lab.compose_files import compose_file_args
from lab.env_files import env_file_paths
from lab.errors import LabError
from lab.meta import REPO_ROOT

SERVICES = ("locust-master", "locust-worker")
DOCKER_TIMEOUT_S = 120.0
# Knobs of one run: the lab's own web UI master is started again without them.
RUN_KNOBS = (
    "LAB_RUN_ID",
    "LAB_PROFILE",
    "LAB_USERS",
    "LAB_SPAWN_RATE",
    "LAB_DURATION",
    "LAB_SCENARIO",
    "LAB_BROWSERS",
    "LAB_LOCUST_WORKER_MEM",
    "LAB_WORKERS",
    "LAB_RATE",
    "LAB_MODEL",
)


def compose_base() -> list[str]:
    """`docker compose` with the lab's files (following LAB_IMAGES) and env files."""
    command = ["docker", "compose", *compose_file_args()]
    for path in env_file_paths():
        command += ["--env-file", str(path)]
    return command


def up_args(workers: int) -> list[str]:
    """`up` of the run's master and workers, detached: a dead container stops nothing else."""
    return ["up", "-d", "--no-deps", "--force-recreate",
            "--scale", f"locust-worker={max(1, workers)}", *SERVICES]  # fmt: skip


class ComposeRun:
    """The run's containers; `poll()` answers like `Popen.poll()` for the master."""

    def __init__(self, env: dict[str, str], ui_env: dict[str, str], workers: int, log: Path):
        self.base = compose_base()
        self.env = env
        self.ui_env = ui_env
        self.workers = max(1, workers)
        self.log_path = log
        self.returncode: int | None = None
        self.master_id: str | None = None
        self._logs: subprocess.Popen[bytes] | None = None
        # How `make lab-up` left the lab: restored after the run.
        self.ui_master_was_running = bool(self._running_ids("locust-master"))
        self.ui_workers_running = len(self._running_ids("locust-worker"))

    # --- docker -------------------------------------------------------------------------------
    def _compose(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - our own argv, no shell
                [*self.base, *args],
                cwd=REPO_ROOT,
                env=env or self.env,
                capture_output=True,
                text=True,
                timeout=DOCKER_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"docker compose {args[0]}: {exc}", exit_code=3) from exc
        if check and done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise LabError(f"docker compose {args[0]} failed: {last}", exit_code=3)
        return done.stdout

    def _running_ids(self, service: str) -> list[str]:
        try:
            out = self._compose("ps", "-q", "--status", "running", service, check=False)
        except LabError:
            return []
        return [line for line in out.split() if line]

    def start(self) -> None:
        """Replace the UI master and workers with the run's; LabError when they do not start."""
        self._compose(*up_args(self.workers))
        ids = self._compose("ps", "-q", "-a", "locust-master").split()
        if not ids:
            raise LabError("docker compose up started no locust-master container", exit_code=3)
        self.master_id = ids[0]
        handle = self.log_path.open("ab")
        self._logs = subprocess.Popen(  # noqa: S603
            [*self.base, "logs", "-f", "--no-color", "--timestamps", *SERVICES],
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()

    def poll(self) -> int | None:
        """None while the master's container runs, else its exit code (255: it vanished)."""
        if self.returncode is not None:
            return self.returncode
        if self.master_id is None:
            self.returncode = 255
            return self.returncode
        done = subprocess.run(  # noqa: S603
            ["docker", "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", self.master_id],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=DOCKER_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            self.returncode = 255
            return self.returncode
        running, _, code = done.stdout.strip().partition(" ")
        if running == "true":
            return None
        self.returncode = int(code or 255)
        return self.returncode

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to the master (it stops its workers and writes its results), then KILL."""
        if self.poll() is not None:
            return
        self._compose("kill", "-s", "SIGTERM", "locust-master", check=False)
        deadline = time.monotonic() + timeout_s
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.poll() is None:
            self._compose("kill", "-s", "SIGKILL", "locust-master", check=False)
            while self.poll() is None and time.monotonic() < deadline + 10:
                time.sleep(0.5)

    def wait_workers(self, timeout_s: float = 30.0) -> None:
        """Workers quit with their master; stop any that does not, then end the log stream."""
        deadline = time.monotonic() + timeout_s
        while self._running_ids("locust-worker") and time.monotonic() < deadline:
            time.sleep(1.0)
        self._compose("stop", "-t", "10", "locust-worker", check=False)
        if self._logs is not None:
            try:
                self._logs.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._logs.terminate()
                self._logs.wait(timeout=10)

    def restore(self) -> str:
        """Put the lab's web UI master and workers back as they were; a line saying what."""
        if not self.ui_master_was_running:
            self._compose("rm", "-f", "-s", *SERVICES, check=False)
            return "the run's Locust containers removed (the lab had no Locust UI running)"
        workers = max(1, self.ui_workers_running)
        self._compose(*up_args(workers), env=self.ui_env)
        return f"the lab's Locust web UI master and {workers} worker(s) are back"
