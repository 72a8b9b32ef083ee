"""`lab ab --compose`: each revision's app image in the running Compose lab.

lab/ab.py runs the schedule (warm-up, A B A B ..., annotations, the verdict); this module
only serves a side, as `LocalSides` does in local mode:

- Images: one app image per commit and image set, `jewelry-lab/app:<set>-<12 hex>`
  ($LAB_AB_IMAGE names another repository), built by the lab's own Compose build (same
  Dockerfile, build arguments and secrets as `make lab-up`, through `scripts/lab-stack.sh
  compose`) from the revision's `git archive` tree, labelled with the commit. An image whose
  label names the commit is reused: a second `lab ab` of the same revision builds nothing.
- Data: the lab's database (POSTGRES_DB) is put aside under `<db>_ab_lab` for the session,
  each commit gets a template copied from it and migrated by that revision (its seed
  container, run once), and before every run `<db>` is made afresh from the side's
  template, so sales made by one run never reach the next. The app's cache keys in Redis
  are deleted too. At the end (or at the next start, after a crash) the lab's own data and
  app are put back.
- Load: `lab run --compose` (lab/compose_run.py) with the lab's own Locust image, the same
  load test for both sides.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from lab.ab import CACHE_KEY_PATTERN, SIDES, AbOptions, source_tree
from lab.compose_files import image_set
from lab.compose_run import compose_base
from lab.env_files import setting
from lab.errors import LabError
from lab.meta import REPO_ROOT

IMAGE_REPOSITORY_VARIABLE = "LAB_AB_IMAGE"
DEFAULT_IMAGE_REPOSITORY = "jewelry-lab/app"
REVISION_LABEL = "org.opencontainers.image.revision"
DOCKERFILE = "docker/python/Dockerfile"
# What docker/python/Dockerfile copies or mounts into the image: an uncommitted change
# there would silently be missing from the image of the commit it seems to belong to.
IMAGE_SOURCES = (
    "app", "seed", "locustfiles", "lab", "observability", "docker/python", "requirements",
)  # fmt: skip
# Services a run needs from the lab (the app is replaced, Locust is started by the run).
LAB_SERVICES = ("postgres", "pgbouncer", "redis", "trace-archive")
STEP_TIMEOUT_S = 900.0  # a database copy of scale `large`, a migration, an app start
BUILD_TIMEOUT_S = 3600.0  # a build that must install the requirements without a cache
APP_HEALTHY_TIMEOUT_S = 180
BUILD_STEP = re.compile(r"^#\d+ \[[^\]]*\] ")
PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")


def image_tag(commit: str, images: str) -> str:
    repository = setting(IMAGE_REPOSITORY_VARIABLE) or DEFAULT_IMAGE_REPOSITORY
    return f"{repository}:{images}-{commit[:12]}"


def revision_of(tag: str) -> str | None:
    """The commit an image was built from (its label), None when there is no such image."""
    done = subprocess.run(  # noqa: S603 - docker with our own argv
        ["docker", "image", "inspect", "--format",  # noqa: S607
         f'{{{{ index .Config.Labels "{REVISION_LABEL}" }}}}', tag],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else None


def sides_to_build(
    commits: dict[str, str], tags: dict[str, str], built_from: Callable[[str], str | None]
) -> list[str]:
    """The sides whose image must be built: one per commit, unless an image of it exists."""
    out: list[str] = []
    seen: set[str] = set()
    for side in SIDES:
        if commits[side] in seen:
            continue
        seen.add(commits[side])
        if built_from(tags[side]) != commits[side]:
            out.append(side)
    return out


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - git with our own argv
        ["git", *args], cwd=repo, capture_output=True, text=True, timeout=60, check=False,  # noqa: S607
    )  # fmt: skip
    if done.returncode != 0:
        raise LabError(f"git {args[0]} failed in {repo}: {done.stderr.strip()[:200]}")
    return done.stdout


def uncommitted(repo: Path, paths: tuple[str, ...] = IMAGE_SOURCES) -> list[str]:
    """Files under `paths` that differ from HEAD (changed, staged or new, not ignored)."""
    out = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", *paths)
    return [line[3:] for line in out.splitlines() if line.strip()]


def check_committed(commits: dict[str, str], repo: Path = REPO_ROOT) -> None:
    """Refuse a side that is HEAD while the image's sources have uncommitted changes."""
    head = _git(repo, "rev-parse", "HEAD").strip()
    if head not in commits.values():
        return
    dirty = uncommitted(repo)
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise LabError(
            f"HEAD ({head[:8]}) has uncommitted changes ({shown}): lab ab --compose builds "
            "committed revisions only; commit or stash them first"
        )


def _compose(
    args: list[str],
    override: Path | None = None,
    *,
    stdin: str | None = None,
    timeout: float = STEP_TIMEOUT_S,
    what: str | None = None,
) -> str:
    command = [*compose_base(), *(["-f", str(override)] if override else []), *args]
    try:
        done = subprocess.run(  # noqa: S603 - docker with our own argv
            command, cwd=REPO_ROOT, input=stdin, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"docker compose {what or args[0]}: {exc}", exit_code=3) from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LabError(f"docker compose {what or args[0]} failed: {last}", exit_code=3)
    return done.stdout


def check_ready(commits: dict[str, str]) -> None:
    """Committed sources, a reachable engine and a running lab; else one line, exit 2."""
    check_committed(commits)
    try:
        running = set(_compose(["ps", "--status", "running", "--services"]).split())
    except LabError as exc:
        raise LabError(
            f"the Compose lab is not reachable ({exc.message}): start it with make lab-up"
        ) from None
    missing = [s for s in LAB_SERVICES if s not in running]
    if missing:
        project = setting("COMPOSE_PROJECT_NAME") or "jewelry-lab"
        raise LabError(
            f"the Compose lab (project {project}) is not up: {', '.join(missing)} not "
            "running; start it with make lab-up"
        )


def _escaped(env: dict[str, str]) -> dict[str, str]:
    return {k: v.replace("$", "$$") for k, v in env.items()}  # Compose interpolates `$`


class ComposeSides:
    """Serves a side of `lab ab` in the Compose lab (the protocol of ab.LocalSides)."""

    mode = "compose"

    def __init__(self, opts: AbOptions, commits: dict[str, str], logs: Path) -> None:
        self.opts = opts
        self.commits = commits
        self.logs = logs
        self.images = image_set()
        self.tags = {side: image_tag(commits[side], self.images) for side in SIDES}
        self.database = setting("POSTGRES_DB") or "jewelry"
        if not PLAIN_NAME.fullmatch(self.database):  # it is written into SQL below
            raise LabError(
                f"POSTGRES_DB={self.database!r}: lab ab --compose needs a plain name "
                "(lowercase letters, digits, _; at most 40)"
            )
        self.aside = f"{self.database}_ab_lab"
        self.templates = {
            side: f"{self.database}_ab_{commits[side][:12]}" for side in SIDES
        }  # fmt: skip
        self.overrides = {side: self._write_override(side) for side in SIDES}
        self.app_was_running = False
        self.prepared = False

    def image(self, side: str) -> str:
        return self.tags[side]

    # --- files and commands ---------------------------------------------------------------
    def _write_override(self, side: str, build: dict[str, Any] | None = None) -> Path:
        """A Compose override (JSON is YAML) giving the app and seed the side's image."""
        env = _escaped({"LAB_FAULTS": "", **self.opts.env[side]})  # nothing of the lab's own
        service: dict[str, Any] = {"image": self.tags[side], "environment": env}
        services: dict[str, Any] = {"app": service, "seed": service}
        if build:
            services = {"app": {"image": self.tags[side], "build": build}}
        path = self.logs / f"compose-{'build-' if build else ''}{side}.json"
        path.write_text(json.dumps({"services": services}, indent=2) + "\n")
        return path

    def _psql(self, sql: str, what: str) -> str:
        return _compose(
            ["exec", "-T", "postgres", "sh", "-c",
             'psql -q -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres'],
            stdin=sql, what=what,
        )  # fmt: skip

    def _existing(self, *names: str) -> set[str]:
        listed = ", ".join(f"'{n}'" for n in names)
        out = self._psql(
            f"SELECT datname FROM pg_database WHERE datname IN ({listed});",  # noqa: S608 - plain names
            "psql (list)",
        )
        return set(out.split())

    def _clear_cache(self) -> None:
        script = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do " \
            "redis.call('DEL', k) n = n + 1 end return n"  # fmt: skip
        _compose(
            ["exec", "-T", "redis", "sh", "-c",
             'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --no-auth-warning EVAL "$0" 0 "$1"',
             script, CACHE_KEY_PATTERN],
            what="exec redis (clear the app's cache)",
        )  # fmt: skip

    def _up_app(self, override: Path | None) -> None:
        _compose(
            ["up", "-d", "--no-deps", "--no-build", "--force-recreate", "--wait",
             "--wait-timeout", str(APP_HEALTHY_TIMEOUT_S), "app"],
            override, what="up app (see docker compose logs app)",
        )  # fmt: skip

    # --- images ---------------------------------------------------------------------------
    def _build(self, side: str) -> None:
        commit, tag = self.commits[side], self.tags[side]
        tree = source_tree(self.opts.runs_root, commit)
        if not (tree / DOCKERFILE).is_file():
            raise LabError(f"revision {commit[:12]} has no {DOCKERFILE}: its image cannot be built")
        override = self._write_override(
            side, build={"context": str(tree), "labels": {REVISION_LABEL: commit}}
        )
        log = self.logs / f"build-{commit[:12]}.log"
        print(f"building {tag} from {commit[:12]} (log: {log}) ...", flush=True)
        started = time.monotonic()
        command = ["bash", str(REPO_ROOT / "scripts" / "lab-stack.sh"), "compose",
                   "-f", str(override), "build", "--progress", "plain", "app"]  # fmt: skip
        with log.open("w") as handle:
            process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
            assert process.stdout is not None
            for line in process.stdout:
                handle.write(line)
                if BUILD_STEP.match(line) and time.monotonic() - started < BUILD_TIMEOUT_S:
                    print(f"  [{time.monotonic() - started:4.0f}s] {line.strip()}", flush=True)
            code = process.wait(timeout=BUILD_TIMEOUT_S)
        if code != 0 or revision_of(tag) != commit:
            raise LabError(f"building {tag} failed (exit {code}): see {log}", exit_code=3)
        print(f"built {tag} in {time.monotonic() - started:.0f} s", flush=True)

    # --- the protocol of lab ab -----------------------------------------------------------
    def prepare(self) -> None:
        """Images (built or reused), the lab's data aside, a migrated template per commit."""
        self._put_back(recovering=True)
        self.app_was_running = "app" in _compose(["ps", "--status", "running", "--services"])
        to_build = sides_to_build(self.commits, self.tags, revision_of)
        first_side = {}  # tag -> the first side that uses it (A/A: one image for both)
        for side in SIDES:
            first_side.setdefault(self.tags[side], side)
        for side in first_side.values():
            if side not in to_build:
                print(f"image {self.tags[side]} of {self.commits[side][:12]} exists: reused")
        for side in to_build:
            self._build(side)
        db = self.database
        distinct = {self.templates[s]: s for s in SIDES}
        print(f"putting the lab's database {db} aside as {self.aside}; one copy per commit")
        self.prepared = True  # from here on, close() puts the lab back
        _compose(["stop", "app"], what="stop app")  # the lab's own app lets go of its data
        sql = [
            f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false;',
            # Idle pooled sessions (PgBouncer, the exporter) would block the copies.
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}'"  # noqa: S608 - plain name
            " AND pid <> pg_backend_pid();",
        ]
        for template in distinct:
            sql += [f'DROP DATABASE IF EXISTS "{template}";',
                    f'CREATE DATABASE "{template}" TEMPLATE "{db}";']  # fmt: skip
        sql.append(f'ALTER DATABASE "{db}" RENAME TO "{self.aside}";')
        self._psql("\n".join(sql) + "\n", "psql (copy the lab's data)")
        for template, side in distinct.items():
            print(f"migrating {template} with {self.tags[side]} ...", flush=True)
            with (self.logs / "migrate.log").open("a") as handle:
                handle.write(_compose(
                    ["run", "--rm", "--no-deps", "-T", "-e", f"DATABASE_NAME={template}",
                     "seed", "sh", "-c",
                     "python app/manage.py migrate --noinput && python -m seed.app_role"],
                    self.overrides[side], what=f"run seed (migrate {template})",
                ))  # fmt: skip

    @contextmanager
    def serving(self, side: str, tag: str, options: Any) -> Iterator[Any]:
        """The side's data made afresh, an empty cache, its app healthy; `lab run` options."""
        db = self.database
        self._psql(
            f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE);\n'
            f'CREATE DATABASE "{db}" TEMPLATE "{self.templates[side]}";\n',
            f"psql (fresh copy for {tag})",
        )
        self._clear_cache()
        print(f"app of {side}: {self.tags[side]}, starting ...", flush=True)
        self._up_app(self.overrides[side])
        yield replace(options, compose=True, target=None)

    def _put_back(self, recovering: bool = False) -> None:
        """The lab's own database back under its name, the templates dropped."""
        db = self.database
        sql = []
        if self.aside in self._existing(self.aside):
            if recovering:
                print(f"an earlier lab ab left the lab's data aside as {self.aside}: put back")
            sql += [f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE);',
                    f'ALTER DATABASE "{self.aside}" RENAME TO "{db}";']  # fmt: skip
        sql.append(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true;')
        sql += [
            f'DROP DATABASE IF EXISTS "{t}" WITH (FORCE);' for t in set(self.templates.values())
        ]
        self._psql("\n".join(sql) + "\n", "psql (put the lab's data back)")

    def close(self) -> None:
        if not self.prepared:
            return
        self._put_back()
        self._clear_cache()
        if self.app_was_running:
            self._up_app(None)
            print("the lab's own data and app are back")
        else:
            _compose(["rm", "-f", "-s", "app"], what="rm app")
            print("the lab's own data is back (its app was not running: removed the A/B app)")
