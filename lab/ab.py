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

Compose mode (`--compose`, lab/ab_compose.py) keeps this orchestration (the schedule, the
runs, the annotations, the verdict) and swaps what serves a side: an app image per
revision in the running Compose lab instead of gunicorn here.
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
    meta = read_json(run_dir / "meta.json") or {}
    meta["ab"] = ab
    write_meta(run_dir, meta)


def run_options(opts: AbOptions) -> Any:
    from lab.__main__ import build_parser
    from lab.runner import RunOptions

    args = opts.run_args or build_parser().parse_args(
        ["--runs-dir", str(opts.runs_root), "run", *DEFAULT_RUN_ARGS]
    )
    if args.compose or args.target:
        raise LabError(
            "lab ab serves each revision itself: leave out --compose and --target after -- "
            "(lab ab --compose runs in the Compose lab)"
        )
    options = RunOptions.from_args(args, opts.runs_root)
    options = replace(options, compose=opts.compose)
    if options.trace_sample_ratio is None:
        options = replace(options, trace_sample_ratio=0.0)  # no tracing cost in a timing run
    return options


class LocalSides:
    """Local mode: each revision's tree served by gunicorn here, on a copy of DATABASE_NAME."""

    mode = "local"

    def __init__(self, opts: AbOptions, commits: dict[str, str], logs: Path) -> None:
        self.opts = opts
        self.commits = commits
        self.logs = logs
        self.sources = {side: source_tree(opts.runs_root, commits[side]) for side in SIDES}
        self.databases = Databases()
        self.templates: dict[str, str] = {}

    def prepare(self) -> None:
        """One template database per commit, copied from the seeded one, migrated by it."""
        for side in SIDES:
            name = f"{self.databases.template}_ab_{self.commits[side][:12]}"[:63]
            if name not in self.templates.values():
                self.databases.copy(name, self.databases.template)
                migrate(self.sources[side], name, self.opts.env[side], self.logs / "migrate.log")
            self.templates[side] = name

    def image(self, side: str) -> str | None:
        return None

    @contextmanager
    def serving(self, side: str, tag: str, options: Any) -> Iterator[Any]:
        """A fresh copy of the side's data, an empty cache, its gunicorn; `lab run` options."""
        template = self.templates[side]
        database = self.databases.copy(f"{template[:52]}_{tag}".lower(), template)
        clear_app_cache()
        try:
            log = self.logs / f"gunicorn-{tag}.log"
            with served(self.sources[side], database, self.opts.env[side], log) as url:
                yield replace(options, target=url)
        finally:
            self.databases.drop(database)

    def close(self) -> None:
        self.databases.close()


def check_options(opts: AbOptions) -> Any:
    """Every check of the options themselves; `lab run`'s options for each run."""
    if opts.warmup < 0:
        raise LabError("--warmup must not be negative")
    if opts.repeats < 2:
        raise LabError("--repeats must be at least 2 (a verdict needs run-to-run spread)")
    if opts.fail_on_regression:
        parse_threshold(opts.fail_on_regression)  # refuse a bad threshold before building
    return run_options(opts)


def schedule(repeats: int, warmup: int) -> list[tuple[str, int]]:
    """(side, repeat) in running order: warm-up runs of A (repeat <= 0), then A B A B ..."""
    # The first run after the copies and migrations meets cold caches (measured: README).
    order = [("A", -w) for w in range(warmup, 0, -1)]
    return order + [(side, r) for r in range(1, repeats + 1) for side in SIDES]


def run_ab(opts: AbOptions) -> int:
    base_options = check_options(opts)
    from lab.runner import run_profile, validate

    started = time.monotonic()
    commits = {"A": resolve_revision(opts.base_ref), "B": resolve_revision(opts.candidate_ref)}
    refs = {"A": opts.base_ref, "B": opts.candidate_ref}
    session = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    logs = opts.runs_root / ".ab" / session
    sides: Any
    if opts.compose:
        from lab.ab_compose import ComposeSides, check_ready

        validate(base_options)  # docker on PATH, ./runs, LAB_IMAGES
        check_ready(commits)  # committed sources, a running lab
        logs.mkdir(parents=True, exist_ok=True)
        sides = ComposeSides(opts, commits, logs)
    else:
        validate(replace(base_options, target="http://127.0.0.1:1"))
        logs.mkdir(parents=True, exist_ok=True)
        sides = LocalSides(opts, commits, logs)
    made: dict[str, list[Path]] = {"A": [], "B": []}
    timings: list[float] = []
    runs = schedule(opts.repeats, opts.warmup)
    try:
        sides.prepare()
        prepared = time.monotonic() - started
        print(f"prepared both revisions in {prepared:.0f} s; {len(runs)} runs follow")
        for side, repeat in runs:
            run_started = time.monotonic()
            tag = f"{side}{repeat}" if repeat > 0 else f"warmup{-repeat}"
            what = (
                f"{side}{repeat} of {opts.repeats}" if repeat > 0 else f"warm-up {-repeat} (A)"
            ) + f" ({refs[side]} {commits[side][:8]})"
            with sides.serving(side, tag, base_options) as options:
                (run_dir,) = repeat_runs(
                    opts.runs_root, 1, lambda options=options: run_profile(options),
                    what=f"run {what}",
                )  # fmt: skip
            _annotate(run_dir, {
                "session": session, "side": side, "ref": refs[side], "commit": commits[side],
                "repeat": repeat, "warmup": repeat <= 0, "env": opts.env[side],
                "mode": sides.mode, "image": sides.image(side),
            })  # fmt: skip
            if repeat > 0:
                made[side].append(run_dir)
                timings.append(time.monotonic() - run_started)
    finally:
        sides.close()
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
        fail_on_regression=opts.fail_on_regression,
        noise_floor=opts.noise_floor,
    )
