"""The facts the harness hands to the command under test, as environment variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_SETTINGS = "config.settings.test"


class HarnessEnvMissing(RuntimeError):
    """Tests were started without the harness, so there are no services to talk to."""


@dataclass(frozen=True)
class ServiceFacts:
    database_host: str
    database_port: int  # PgBouncer: what the app uses
    database_direct_port: int  # PostgreSQL itself: for admin work PgBouncer cannot do
    database_name: str
    database_user: str
    database_password: str
    monitor_user: str
    monitor_password: str
    redis_url: str
    pg_bindir: Path
    tmpdir: Path

    def to_env(self) -> dict[str, str]:
        return {
            "DATABASE_HOST": self.database_host,
            "DATABASE_PORT": str(self.database_port),
            "DATABASE_DIRECT_PORT": str(self.database_direct_port),
            "DATABASE_NAME": self.database_name,
            "DATABASE_USER": self.database_user,
            "DATABASE_PASSWORD": self.database_password,
            "DATABASE_MONITOR_USER": self.monitor_user,
            "DATABASE_MONITOR_PASSWORD": self.monitor_password,
            "REDIS_URL": self.redis_url,
            "PG_BINDIR": str(self.pg_bindir),
            "LAB_TEST_TMPDIR": str(self.tmpdir),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ServiceFacts:
        missing = [name for name in _REQUIRED if not env.get(name)]
        if missing:
            unset = (
                "harness variables unset"
                if len(missing) == len(_REQUIRED)
                else (f"{', '.join(missing)} unset")
            )
            raise HarnessEnvMissing(
                f"the test services are not running ({unset}): run tests with `make test` "
                "(or `.venv/bin/python -m tests.harness -- .venv/bin/pytest ...`)"
            )
        return cls(
            database_host=env["DATABASE_HOST"],
            database_port=int(env["DATABASE_PORT"]),
            database_direct_port=int(env["DATABASE_DIRECT_PORT"]),
            database_name=env["DATABASE_NAME"],
            database_user=env["DATABASE_USER"],
            database_password=env["DATABASE_PASSWORD"],
            monitor_user=env["DATABASE_MONITOR_USER"],
            monitor_password=env["DATABASE_MONITOR_PASSWORD"],
            redis_url=env["REDIS_URL"],
            pg_bindir=Path(env["PG_BINDIR"]),
            tmpdir=Path(env["LAB_TEST_TMPDIR"]),
        )


_REQUIRED = (
    "DATABASE_HOST",
    "DATABASE_PORT",
    "DATABASE_DIRECT_PORT",
    "DATABASE_NAME",
    "DATABASE_USER",
    "DATABASE_PASSWORD",
    "DATABASE_MONITOR_USER",
    "DATABASE_MONITOR_PASSWORD",
    "REDIS_URL",
    "PG_BINDIR",
    "LAB_TEST_TMPDIR",
)


def command_env(facts: ServiceFacts, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment for the command under test: services, settings module, import paths."""
    env = dict(base)
    env.update(facts.to_env())
    env["DJANGO_SETTINGS_MODULE"] = TEST_SETTINGS
    # collectstatic's output (hashed, compressed assets), per test session (harness __main__).
    env["DJANGO_STATIC_ROOT"] = str(facts.tmpdir / "static")
    # The per-install secret behind Locust's run tokens (lab/run_token.py), per test session.
    env.setdefault("LAB_RUN_TOKEN_KEY", secrets.token_hex(24))
    paths = [str(REPO_ROOT / "app"), str(REPO_ROOT)]
    if existing := base.get("PYTHONPATH"):
        paths += [p for p in existing.split(os.pathsep) if p and p not in paths]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
