"""`python -m seed.app_role`: the app's least-privilege PostgreSQL role, kept by the superuser.

The Compose seed job runs it after the migrations, as the superuser that owns the schema:
the role (POSTGRES_APP_USER, default lab_app) may log in, read and write the rows of the
app's tables and use their sequences, and nothing else: no DDL, no superuser, no role or
database creation, no other schema. Tables created later by the superuser get the same
grants (default privileges). Idempotent; the password comes from POSTGRES_APP_PASSWORD
(the environment, never a command line). Connection: the DATABASE_* variables of the app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import psycopg2
from psycopg2 import sql

from lab.contract import EXIT_BAD_INPUT

DEFAULT_APP_ROLE = "lab_app"
TABLE_PRIVILEGES = sql.SQL("SELECT, INSERT, UPDATE, DELETE")
SEQUENCE_PRIVILEGES = sql.SQL("USAGE, SELECT, UPDATE")


def ensure_app_role(cursor: object, role: str, password: str, database: str) -> None:
    """Create or update `role` with exactly the data privileges the app needs."""
    execute = cursor.execute  # type: ignore[attr-defined]
    name = sql.Identifier(role)
    execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone() is None:  # type: ignore[attr-defined]
        execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
    execute(
        sql.SQL(
            "ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "NOBYPASSRLS PASSWORD %s"
        ).format(name),
        [password],
    )
    execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
        sql.Identifier(database), name
    ))  # fmt: skip
    execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name))
    execute(sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA public TO {}").format(TABLE_PRIVILEGES, name))
    execute(
        sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA public TO {}").format(
            SEQUENCE_PRIVILEGES, name
        )
    )
    execute(
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {} ON TABLES TO {}").format(
            TABLE_PRIVILEGES, name
        )
    )
    execute(
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {} ON SEQUENCES TO {}").format(
            SEQUENCE_PRIVILEGES, name
        )
    )


def main(environ: Mapping[str, str] = os.environ) -> int:
    role = environ.get("POSTGRES_APP_USER", DEFAULT_APP_ROLE)
    password = environ.get("POSTGRES_APP_PASSWORD", "")
    if not password:
        print("seed.app_role: POSTGRES_APP_PASSWORD is empty: set it in .env", file=sys.stderr)
        return EXIT_BAD_INPUT
    database = environ.get("DATABASE_NAME", "jewelry")
    try:
        connection = psycopg2.connect(
            host=environ.get("DATABASE_HOST", "127.0.0.1"),
            port=environ.get("DATABASE_PORT", "5432"),
            dbname=database,
            user=environ.get("DATABASE_USER", "postgres"),
            password=environ.get("DATABASE_PASSWORD", ""),
        )
    except psycopg2.Error as exc:
        print(f"seed.app_role: cannot connect: {str(exc).strip()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        with connection, connection.cursor() as cursor:
            ensure_app_role(cursor, role, password, database)
    finally:
        connection.close()
    print(f"[seed] app role {role}: data privileges only", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
