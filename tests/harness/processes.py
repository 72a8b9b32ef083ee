"""Process plumbing for the test harness: spawn, wait, inspect and stop daemons.

Kept free of any service knowledge so `services.py` reads as configuration.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A service did not start or stop as expected; the message says what to look at."""


@dataclass(frozen=True)
class OsUser:
    """The unprivileged account daemons run as when the harness runs as root."""

    name: str
    uid: int
    gid: int
    home: str


def daemon_user() -> OsUser | None:
    """`postgres` when running as root (initdb, postgres and pgbouncer refuse root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError as error:
        raise ServiceError(
            "running as root but there is no `postgres` OS user; run scripts/bootstrap.sh"
        ) from error
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def die_with_parent(death_signal: int) -> Callable[[], None]:
    """A preexec_fn: the kernel sends `death_signal` to the child when its parent dies.

    So a harness killed with SIGKILL does not leave daemons holding ports; the
    PID records in `.lab-test/` remain the fallback for anything that survives.
    """

    def set_signal() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)

    return set_signal


def spawn(
    argv: list[str],
    *,
    log_path: Path,
    cwd: Path,
    user: OsUser | None = None,
    death_signal: int = signal.SIGTERM,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running daemon in its own session with output appended to `log_path`.

    Its own session keeps a terminal's Ctrl-C away from it: the harness stops
    services itself, in order, after the command under test has finished.
    """
    child_env = dict(env if env is not None else os.environ)
    if user is not None:
        child_env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            start_new_session=True,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
            preexec_fn=die_with_parent(death_signal),  # the harness forks from one thread
        )


def run_checked(
    argv: list[str], *, cwd: Path, user: OsUser | None = None, what: str, timeout: float = 120
) -> None:
    """Run a short command (initdb, ...) to completion; its output is in the error if it fails."""
    env = dict(os.environ)
    if user is not None:
        env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
    result = subprocess.run(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        user=user.uid if user else None,
        group=user.gid if user else None,
        extra_groups=[] if user else None,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = 30.0,
) -> None:
    """Poll `ready` until true; fail fast if the process exits, and always show its log."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        exit_code = process.poll()
        if exit_code is not None:
            raise ServiceError(
                f"{what} exited with code {exit_code} while starting; log {log_path}:\n"
                f"{log_tail(log_path)}"
            )
        if ready():
            return
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{what} not ready after {timeout:.0f}s; log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def process_start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot: with the PID it names one process for good."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # Field 22 of /proc/<pid>/stat; fields[0] here is field 3 (state).
    return int(fields[19])


def process_points_into(pid: int, directory: Path) -> bool:
    """True when the process's command line or working directory lies inside `directory`.

    This is how the harness tells its own leftover daemons from a recycled PID
    that now belongs to someone else.
    """
    marker = str(directory)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    if marker in cmdline:
        return True
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return cwd == marker or cwd.startswith(marker + "/")


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> bool:
    """Send `sig`, wait up to `timeout`, then SIGKILL. Returns True if the process is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def stop_process(process: subprocess.Popen[bytes], sig: int, timeout: float = 15.0) -> None:
    """Stop a child we spawned and reap it, escalating to SIGKILL after `timeout`."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(sig)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
