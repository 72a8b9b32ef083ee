"""The app's PostgreSQL role can use the data and nothing else; seeded passwords are the
install's own (real PostgreSQL of the harness)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg2
import pytest

from seed.app_role import ensure_app_role
from seed.generate import PASSWORD_ALPHABET, account_password
from tests.harness.environment import ServiceFacts
from tests.harness.services import PostgresServer, make_run_dir, start_postgres

ROLE = "lab_app"
DATABASE = "least_privilege"


@pytest.fixture(scope="module")
def postgres(services: ServiceFacts) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of our own: making roles needs its superuser."""
    server = start_postgres(make_run_dir(services.tmpdir))
    yield server
    server.stop()


def test_app_role_reads_and_writes_data_but_changes_no_schema(postgres: PostgresServer) -> None:
    bootstrap = postgres.superuser_connection()
    bootstrap.autocommit = True
    with bootstrap.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {DATABASE}")
    bootstrap.close()
    password = secrets.token_hex(16)
    admin = postgres.superuser_connection(DATABASE)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("CREATE TABLE tenants_tenant (id serial PRIMARY KEY, name text)")
        ensure_app_role(cursor, ROLE, password, DATABASE)
        ensure_app_role(cursor, ROLE, password, DATABASE)  # idempotent
        # A table the migrations add later gets the same grants (default privileges).
        cursor.execute("CREATE TABLE later_table (id serial PRIMARY KEY, note text)")
    app = psycopg2.connect(
        host="127.0.0.1", port=postgres.port, dbname=DATABASE, user=ROLE, password=password
    )
    app.autocommit = True
    try:
        with app.cursor() as cursor:
            cursor.execute("INSERT INTO tenants_tenant (name) VALUES ('shop') RETURNING id")
            cursor.execute("SELECT count(*) FROM tenants_tenant")
            assert cursor.fetchone() == (1,)
            cursor.execute("INSERT INTO later_table (note) VALUES ('default privileges')")
            cursor.execute("UPDATE later_table SET note = 'ok'")
            cursor.execute("DELETE FROM later_table")
            cursor.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                           "WHERE rolname = current_user")  # fmt: skip
            assert cursor.fetchone() == (False, False, False)
            for forbidden in (
                "CREATE TABLE app_made (id int)",
                "DROP TABLE later_table",
                "ALTER TABLE tenants_tenant ADD COLUMN evil text",
                "TRUNCATE tenants_tenant",
                f"ALTER ROLE {ROLE} SUPERUSER",
                "SELECT passwd FROM pg_shadow",
            ):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cursor.execute(forbidden)
    finally:
        app.close()
        admin.close()


def test_seeded_passwords_mix_in_the_install_secret() -> None:
    drawn = "".join(PASSWORD_ALPHABET[i % 62] for i in range(20))  # what the public seed gives
    email = "owner1@shop.lab.test"
    assert account_password(drawn, email, "") == drawn  # no secret: the public draw
    first = account_password(drawn, email, "install-a-secret")
    assert first != drawn
    assert account_password(drawn, email, "install-a-secret") == first  # same install, same
    assert account_password(drawn, email, "install-b-secret") != first
    assert account_password(drawn, "owner2@shop.lab.test", "install-a-secret") != first
    assert len(first) == 20
    assert set(first) <= set(PASSWORD_ALPHABET)
