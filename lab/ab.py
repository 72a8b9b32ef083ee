"""`lab ab BASE_REF CANDIDATE_REF --repeats N`: is the candidate slower than the baseline?

Local mode (the one implemented): each revision's tree is taken with `git archive` into
`<runs>/.ab/src/<commit>/` (kept: a cache), served in turn by gunicorn on a free loopback
port with this environment's Python packages, and loaded by `lab run --local` with the
options given after `--` (the same load test, from this checkout, for both sides). Runs are
interleaved A B A B ... so that a drift of the machine hits both sides alike, and every run
starts from the same data: the database named by DATABASE_NAME (seeded) is the template of
one copy per revision (migrated by that revision), and each run gets a fresh copy of it;
the app's cache keys in Redis are deleted before each run. Then the runs are compared
across runs (lab/compare.py) with the noise floor when one matches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lab.calibrate import repeat_runs
from lab.compare import parse_threshold, run_compare
from lab.contract import RunFolder
from lab.errors import LabError
from lab.meta import REPO_ROOT, write_meta
from lab.runs_dir import read_json

DEFAULT_RUN_ARGS = ("--profile", "load", "--users", "20", "--duration", "1m")
CACHE_KEY_PATTERN = "jewelry:*"  # the app's cache KEY_PREFIX (app/config/settings/base.py)
HEALTH_TIMEOUT_S = 120.0
SIDES = ("A", "B")


@dataclass(frozen=True)
class AbOptions:
    runs_root: Path
    base_ref: str
    candidate_ref: str
    repeats: int
    warmup: int
    run_args: argparse.Namespace | None
    env: dict[str, dict[str, str]]  # side -> extra environment of its app
    fail_on_regression: str | None
    markdown: bool
    noise_floor: Path | None
    compose: bool

    @classmethod
    def from_args(
        cls,
        args: argparse.Namespace,
        root: Path,
        run_args: argparse.Namespace | None,
        noise_floor: Path | None,
    ) -> AbOptions:
        return cls(
            runs_root=root,
            base_ref=args.base_ref,
            candidate_ref=args.candidate_ref,
            repeats=args.repeats,
            warmup=args.warmup,
            run_args=run_args,
            env={"A": _pairs(args.base_env), "B": _pairs(args.candidate_env)},
            fail_on_regression=args.fail_on_regression,
            markdown=args.markdown,
            noise_floor=noise_floor,
            compose=args.compose,
        )


def _pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LabError(f"environment {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def resolve_revision(ref: str) -> str:
    """The full commit id of a git revision of this repository."""
    try:
        out = subprocess.run(  # noqa: S603 - git with our own argv
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],  # noqa: S607
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except OSError as exc:
        raise LabError(f"git not found ({exc}): lab ab needs git") from exc
    if out.returncode != 0 or not out.stdout.strip():
        raise LabError(f"unknown git revision {ref!r} in {REPO_ROOT}")
    return out.stdout.strip()


def source_tree(root: Path, commit: str) -> Path:
    """The revision's files under `<runs>/.ab/src/<commit>/`, extracted once (`git archive`)."""
    target = root / ".ab" / "src" / commit
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{commit[:12]}-", dir=target.parent))
    archive = subprocess.Popen(  # noqa: S603 - git with our own argv
        ["git", "archive", "--format=tar", commit],  # noqa: S607
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert archive.stdout is not None
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(staging, filter="data")
    if archive.wait(timeout=120) != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LabError(f"git archive {commit} failed: {archive.stderr.read().decode()[:300]}")
    staging.replace(target)
    return target


class Databases:
    """Copies of the seeded database: one template per revision, one fresh copy per run."""

    def __init__(self) -> None:
        import psycopg2

        self.template = os.environ.get("DATABASE_NAME", "jewelry")
        self.params = {
            "host": os.environ.get("DATABASE_HOST", "127.0.0.1"),
            # Copies need no other session on their template: go around PgBouncer's pools.
            "port": os.environ.get("DATABASE_DIRECT_PORT") or os.environ.get("DATABASE_PORT")
            or "5432",
            "user": os.environ.get("DATABASE_USER", "jewelry"),
            "password": os.environ.get("DATABASE_PASSWORD", ""),
        }  # fmt: skip
        try:
            self.connection = psycopg2.connect(dbname="postgres", connect_timeout=10, **self.params)
        except psycopg2.Error as exc:
            raise LabError(f"cannot reach PostgreSQL at DATABASE_*: {str(exc).strip()}") from exc
        self.connection.autocommit = True
        self.created: list[str] = []

    def copy(self, name: str, template: str) -> str:
        """`name` as a copy of `template`: a file-level copy when nobody else uses the
        template (our own templates), else pg_dump piped into psql (the seeded database,
        which PgBouncer's idle pooled sessions or a running app may hold open)."""
        import psycopg2

        with self.connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            try:
                cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                self.created.append(name)
                return name
            except psycopg2.errors.ObjectInUse:
                cursor.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        self._dump_restore(template, name)
        return name

    def _dump_restore(self, source: str, target: str) -> None:
        bindir = os.environ.get("PG_BINDIR", "")
        programs = [
            shutil.which(p, path=bindir or None) or shutil.which(p) for p in ("pg_dump", "psql")
        ]
        if not all(programs):
            raise LabError(
                f"database {source} is in use and pg_dump/psql are not installed to copy it "
                "(install postgresql-client, or stop the sessions using it)"
            )
        env = {**os.environ, "PGPASSWORD": self.params["password"]}
        where = [
            "-h",
            self.params["host"],
            "-p",
            str(self.params["port"]),
            "-U",
            self.params["user"],
        ]
        dump = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            [programs[0], *where, "--no-owner", "--no-acl", "--no-comments", "-d", source],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        restore = subprocess.run(  # noqa: S603 - our own argv, no shell
            [programs[1], *where, "-q", "-v", "ON_ERROR_STOP=1", "-d", target],
            stdin=dump.stdout, capture_output=True, env=env, timeout=3600, check=False,
        )  # fmt: skip
        if dump.stdout:
            dump.stdout.close()
        if dump.wait(timeout=60) != 0 or restore.returncode != 0:
            errors = (dump.stderr.read() if dump.stderr else b"") + restore.stderr
            raise LabError(f"copying database {source} to {target} failed: {errors.decode()[:300]}")

    def drop(self, name: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)
        self.connection.close()


def clear_app_cache() -> int:
    """Delete the app's cache keys (sessions, cached statistics, login throttle)."""
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    keys = list(client.scan_iter(CACHE_KEY_PATTERN, count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()
    return len(keys)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def app_env(source: Path, database: str, extra: dict[str, str], port: int | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LOCUST_"))}
    env.update(
        PYTHONPATH=f"{source / 'app'}{os.pathsep}{source}",
        DATABASE_NAME=database,
        # This process's LAB_FAULTS must not leak into either side: only --*-env sets it.
        LAB_FAULTS="",
    )
    if port is not None:
        env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    env.update(extra)
    return env


def migrate(source: Path, database: str, extra: dict[str, str], log: Path) -> None:
    """Bring a revision's copy of the data to that revision's schema."""
    env = app_env(source, database, extra)
    env["DATABASE_PORT"] = os.environ.get("DATABASE_DIRECT_PORT") or env.get("DATABASE_PORT", "")
    with log.open("ab") as handle:
        code = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=source / "app", env=env, stdout=handle, stderr=subprocess.STDOUT,
            timeout=600, check=False,
        ).returncode  # fmt: skip
    if code != 0:
        raise LabError(f"migrate of {source.name[:12]} on {database} failed: see {log}")


@contextmanager
def served(source: Path, database: str, extra: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn of `source` on a free loopback port until the block ends; yields its URL."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        raise LabError("gunicorn not found beside this Python: run `make bootstrap`")
    port = _free_port()
    env = app_env(source, database, extra, port)
    env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lab-ab-prom-")
    with log.open("ab") as handle:
        process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            [str(gunicorn), "-c", "config/gunicorn.conf.py"],
            cwd=source / "app", env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"the app of {source.name[:12]} did not become healthy: see {log}")
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _annotate(run_dir: Path, ab: dict[str, Any]) -> None:
    meta = read_json(RunFolder(run_dir).meta) or {}
    meta["ab"] = ab
    write_meta(run_dir, meta)


def run_options(opts: AbOptions) -> Any:
    from lab.__main__ import build_parser
    from lab.runner import RunOptions

    args = opts.run_args or build_parser().parse_args(
        ["--runs-dir", str(opts.runs_root), "run", *DEFAULT_RUN_ARGS]
    )
    if args.compose or args.target:
        raise LabError("lab ab serves each revision itself: leave out --compose and --target")
    # Locust runs here, against the revision ab serves (whatever `lab run` defaults to).
    options = replace(RunOptions.from_args(args, opts.runs_root), compose=False)
    if options.trace_sample_ratio is None:
        options = replace(options, trace_sample_ratio=0.0)  # no tracing cost in a timing run
    return options


def run_ab(opts: AbOptions) -> int:
    if opts.compose:
        raise LabError("--compose is not built yet: use --local (the default)")
    if opts.warmup < 0:
        raise LabError("--warmup must not be negative")
    if opts.repeats < 2:
        raise LabError("--repeats must be at least 2 (a verdict needs run-to-run spread)")
    threshold = opts.fail_on_regression
    if threshold:
        parse_threshold(threshold)  # refuse a bad threshold before building anything
    base_options = run_options(opts)
    from lab.runner import run_profile, validate

    validate(replace(base_options, target="http://127.0.0.1:1"))
    started = time.monotonic()
    commits = {"A": resolve_revision(opts.base_ref), "B": resolve_revision(opts.candidate_ref)}
    refs = {"A": opts.base_ref, "B": opts.candidate_ref}
    session = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    logs = opts.runs_root / ".ab" / session
    logs.mkdir(parents=True, exist_ok=True)
    sources = {side: source_tree(opts.runs_root, commits[side]) for side in SIDES}
    databases = Databases()
    made: dict[str, list[Path]] = {"A": [], "B": []}
    timings: list[float] = []
    try:
        templates: dict[str, str] = {}
        for side in SIDES:
            name = f"{databases.template}_ab_{commits[side][:12]}"[:63]
            if name not in templates.values():  # one template per commit, migrated by it
                databases.copy(name, databases.template)
                migrate(sources[side], name, opts.env[side], logs / "migrate.log")
            templates[side] = name
        prepared = time.monotonic() - started
        # Warm-up runs of A come first and are left out of the comparison: the first run
        # after the copies and migrations meets cold caches (measured: README).
        schedule = [("A", -w) for w in range(opts.warmup, 0, -1)]
        schedule += [(side, r) for r in range(1, opts.repeats + 1) for side in SIDES]
        print(f"prepared both revisions in {prepared:.0f} s; {len(schedule)} runs follow")
        for side, repeat in schedule:
            run_started = time.monotonic()
            tag = f"{side}{repeat}" if repeat > 0 else f"warmup{-repeat}"
            database = databases.copy(f"{templates[side][:52]}_{tag}".lower(), templates[side])
            clear_app_cache()
            with served(
                sources[side], database, opts.env[side], logs / f"gunicorn-{tag}.log"
            ) as url:
                what = (
                    f"{side}{repeat} of {opts.repeats}" if repeat > 0 else f"warm-up {-repeat} (A)"
                ) + f" ({refs[side]} {commits[side][:8]})"
                (run_dir,) = repeat_runs(
                    opts.runs_root, 1,
                    lambda url=url: run_profile(replace(base_options, target=url)),
                    what=f"run {what}",
                )  # fmt: skip
            databases.drop(database)
            _annotate(run_dir, {
                "session": session, "side": side, "ref": refs[side], "commit": commits[side],
                "repeat": repeat, "warmup": repeat <= 0, "env": opts.env[side],
            })  # fmt: skip
            if repeat > 0:
                made[side].append(run_dir)
                timings.append(time.monotonic() - run_started)
    finally:
        databases.close()
    total = time.monotonic() - started
    print(
        f"\nA = {refs['A']} ({commits['A'][:8]}), B = {refs['B']} ({commits['B'][:8]}): "
        f"{opts.repeats} interleaved runs each in {total / 60:.1f} min "
        f"(preparation {prepared:.0f} s, {sum(timings) / len(timings):.0f} s per run)"
    )
    print(
        "compare again: lab compare "
        + " ".join(",".join(d.name for d in made[side]) for side in SIDES)
        + "\n"
    )
    return run_compare(
        [made["A"], made["B"]],
        force=False,
        markdown=opts.markdown,
        fail_on_regression=threshold,
        noise_floor=opts.noise_floor,
    )
