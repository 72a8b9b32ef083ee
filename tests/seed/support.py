"""Helpers of the seed tests (fixtures are in conftest.py)."""

from __future__ import annotations

import subprocess

from django.db import connection

# Small volumes that still exercise every table and path; 2 users per tenant keeps hashing cheap.
TINY = ["--scale", "small", "--tenants", "2", "--users-per-tenant", "2", "--items", "300",
        "--customers", "80", "--sales", "250"]  # fmt: skip
SEED_TIMEOUT_S = 120


def table_count(table: str, where: str = "") -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} {where}")  # noqa: S608 (test constants)
        return cursor.fetchone()[0]


def lab_tenant_count() -> int:
    return table_count("tenants_tenant", "WHERE generated_by = 'lab-seed'")


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused run (exit code != 0)."""
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("seed: "), lines[0]
    return lines[0]
