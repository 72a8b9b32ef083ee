"""Bad input: one line on stderr, a non-zero exit, nothing written."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import psycopg2
import pytest
from django.db import connection

from tests.harness.processes import free_port
from tests.seed.support import lab_tenant_count, one_error_line

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scale", "huge"], "unknown scale 'huge'"),
        (["--scale", "doc", "--items", "-5"], "--items must be >= 0"),
        (["--scale", "doc", "--tenants", "0"], "--tenants must be at least 1"),
        (["--scale", "doc", "--items", "many"], "invalid int value"),
        (["--scale", "doc", "--tenants", "3", "--items", "2"], "--items (2) must be at least"),
        (["--scale", "doc", "--end-date", "yesterday"], "--end-date must be YYYY-MM-DD"),
        (["--reset", "--hash"], "not allowed with argument"),
    ],
)
def test_bad_arguments(run_seed: Callable, args: list[str], expected: str):
    result = run_seed(*args)
    assert result.returncode == 2
    assert expected in one_error_line(result)
    assert lab_tenant_count() == 0


def test_unreachable_database(run_seed: Callable):
    line = one_error_line(run_seed("--scale", "doc", env={"DATABASE_PORT": str(free_port())}))
    assert "cannot reach the database" in line
    assert "DATABASE_HOST" in line


@pytest.fixture
def empty_database() -> str:
    """A database with no tables at all (created and dropped directly on PostgreSQL)."""
    settings = connection.settings_dict
    name = f"seed_unmigrated_{secrets.token_hex(4)}"

    def admin() -> psycopg2.extensions.connection:
        import os

        link = psycopg2.connect(
            host=settings["HOST"], port=os.environ["DATABASE_DIRECT_PORT"], dbname="postgres",
            user=settings["USER"], password=settings["PASSWORD"],
        )  # fmt: skip
        link.autocommit = True
        return link

    link = admin()
    with link.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    link.close()
    yield name
    link = admin()
    with link.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    link.close()


def test_unmigrated_schema(run_seed: Callable, empty_database: str):
    result = run_seed("--scale", "doc", env={"DATABASE_NAME": empty_database}, direct=True)
    line = one_error_line(result)
    assert "not migrated" in line
    assert "migrate" in line
    assert result.returncode == 1
