"""The seeding itself: one transaction from the first check to the last index.

Order: lock, look at what is there (foreign data, an earlier seeding), drop the big tables'
secondary indexes and constraints, stream every tenant's rows through COPY, rebuild, advance
the id sequences, ANALYZE, commit; then write the credentials file. Any failure before the
commit rolls everything back, so nothing is ever half-written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.db import connection, transaction

from jewelry.reports import summaries as report_summaries
from seed.clock import Clock
from seed.copy_writer import CopyWriter
from seed.credentials import FILE_NAME, accounts_secret, app_hasher, write_credentials
from seed.generate import (
    Credential,
    IdCounter,
    Pools,
    SeedError,
    TenantGenerator,
    TenantPlan,
    plan_tenants,
)
from seed.progress import LoadFigures, log
from seed.scales import SCALES, Scale
from seed.schema import drop_secondary, recreate
from seed.state import (
    DatabaseState,
    advance_sequences,
    check_migrated,
    check_reachable,
    lab_counts,
    lock,
    next_ids,
    read_state,
)
from seed.state import reset as reset_lab_data
from seed.tables import BIG_TABLES, CUSTOMER, ITEM, SALE, TABLES


@dataclass(frozen=True)
class SeedRequest:
    scale: Scale
    random_seed: int
    end_date: date
    runs_dir: Path
    force: bool = False
    replace: bool = False  # lab data from other parameters is deleted and seeded anew


def expected_counts(scale: Scale) -> dict[str, int]:
    return {
        "users": scale.tenants * scale.users_per_tenant,
        "branches": scale.tenants * scale.branches_per_tenant,
        "terminals": scale.tenants * scale.branches_per_tenant * scale.terminals_per_branch,
        "items": scale.items,
        "customers": scale.customers,
        "sales": scale.sales,
    }


def _refuse_foreign(state: DatabaseState, force: bool) -> None:
    if state.foreign_tenants and not force:
        raise SeedError(
            f"the database holds {state.foreign_tenants} tenant(s) the seed did not generate: "
            "refusing to write beside them; pass --force to seed anyway"
        )


def seed(request: SeedRequest) -> int:
    scale = request.scale
    clock = Clock(request.end_date)
    pools = Pools.build(request.random_seed)
    plans = plan_tenants(request.random_seed, scale, pools, clock)
    algorithm, encode = app_hasher()
    generator = TenantGenerator(
        seed=request.random_seed,
        scale=scale,
        clock=clock,
        pools=pools,
        encode_password=encode,
        accounts_secret=accounts_secret(),
    )
    check_reachable()
    check_migrated()
    figures = LoadFigures()
    credentials: list[Credential] = []
    with transaction.atomic():
        raw = connection.connection
        with raw.cursor() as cursor:
            lock(cursor)
            state = read_state(cursor)
            _refuse_foreign(state, request.force)
            if state.lab_slugs and _same_seeding(cursor, state, plans, request, generator):
                credentials = _already_seeded(state, plans, generator, request)
            else:
                if state.lab_slugs:  # from other parameters: --replace was given
                    reset_lab_data(cursor, state)
                _load(raw, cursor, generator, plans, scale, figures, credentials)
    path = request.runs_dir / FILE_NAME
    write_credentials(
        path, scale=scale.name, algorithm=algorithm, random_seed=request.random_seed,
        users=credentials,
    )  # fmt: skip
    if figures.tables[ITEM].rows or figures.tables[SALE].rows:
        for line in figures.summary():
            log(line)
    log(f"wrote {len(credentials)} login accounts to {path}")
    return 0


def _same_seeding(
    cursor: object,
    state: DatabaseState,
    plans: list[TenantPlan],
    request: SeedRequest,
    generator: TenantGenerator,
) -> bool:
    """True when the lab data is this request's; refuses other lab data unless --replace."""
    found = lab_counts(cursor)
    wanted = expected_counts(request.scale)
    same_tenants = state.lab_slugs == [plan.slug for plan in plans]
    if same_tenants and found == wanted:
        if _passwords_match(cursor, generator, plans[0], state.lab_tenant_ids[0]):
            return True
        differences = "account passwords from another LAB_ACCOUNTS_SECRET"
    else:
        differences = ", ".join(
            f"{key} {found[key]:,} (asked {wanted[key]:,})"
            for key in wanted
            if found[key] != wanted[key]
        )
        differences = differences or "other tenants (another --random-seed or --tenants)"
        named = [name for name, scale in SCALES.items() if expected_counts(scale) == found]
        if named:  # so `make lab-up` can say which scale keeps the data
            differences += f"; that is scale {named[0]!r}"
    if not request.replace:
        raise SeedError(
            f"the database already holds different lab data ({differences}): "
            "pass --replace to delete it and seed anew, or run `python -m seed --reset` first"
        )
    log(f"replacing the lab data ({differences})")
    return False


def _passwords_match(
    cursor: object, generator: TenantGenerator, plan: TenantPlan, tenant_id: int
) -> bool:
    """Does the stored hash of the first lab account accept the password this install makes?

    The passwords mix in the install's secret (LAB_ACCOUNTS_SECRET): data seeded under
    another secret must not get a credentials file whose passwords do not log in.
    """
    from django.contrib.auth.hashers import check_password

    first = generator.credentials(plan, tenant_id)[0]
    cursor.execute("SELECT password FROM tenants_user WHERE email = %s", [first.email])  # type: ignore[attr-defined]
    row = cursor.fetchone()  # type: ignore[attr-defined]
    return row is not None and check_password(first.password, row[0])


def _already_seeded(
    state: DatabaseState,
    plans: list[TenantPlan],
    generator: TenantGenerator,
    request: SeedRequest,
) -> list[Credential]:
    scale = request.scale
    found = expected_counts(scale)
    log(
        f"lab data for scale {scale.name!r} (random seed {request.random_seed}) is already "
        f"there: {len(plans)} tenants, {found['items']:,} items, {found['sales']:,} sales; "
        "nothing to do"
    )
    # The passwords derive from the random seed: the credentials file can always be rewritten.
    return [
        credential
        for plan, tenant_id in zip(plans, state.lab_tenant_ids, strict=True)
        for credential in generator.credentials(plan, tenant_id)
    ]


def _load(
    raw: object,
    cursor: object,
    generator: TenantGenerator,
    plans: list[TenantPlan],
    scale: Scale,
    figures: LoadFigures,
    credentials: list[Credential],
) -> None:
    log(
        f"seeding scale {scale.name!r}: {scale.tenants} tenants, {scale.items:,} items, "
        f"{scale.customers:,} customers, {scale.sales:,} sales"
    )
    ids = IdCounter(next_ids(cursor))
    deferred = drop_secondary(cursor, BIG_TABLES)
    writer = CopyWriter(raw, figures)
    try:
        for number, plan in enumerate(plans, start=1):
            started = time.monotonic()
            rows = generator.tenant(plan, ids)
            figures.generate_seconds += time.monotonic() - started
            credentials.extend(rows.credentials)
            for table in TABLES:
                writer.submit(table, rows.rows[table])
            log(
                f"tenant {number}/{len(plans)} {plan.slug}: {plan.items:,} items, "
                f"{plan.customers:,} customers, {plan.sales:,} sales queued; "
                f"{_copied(figures)} ({figures.elapsed():.1f} s)"
            )
        writer.close()
    except BaseException:
        writer.abort()
        raise
    log(f"COPY done: {_copied(figures)} in {figures.elapsed():.1f} s; rebuilding indexes ...")
    recreate(cursor, deferred, figures)
    advance_sequences(cursor)
    _rebuild_report_summaries(cursor)
    started = time.monotonic()
    for table in TABLES:
        cursor.execute(f"ANALYZE {table.name}")
    cursor.execute(f"ANALYZE {report_summaries.TABLE}")
    log(f"ANALYZE in {time.monotonic() - started:.1f} s; committing")


def _rebuild_report_summaries(cursor: object) -> None:
    """The reports' summary rows follow the sales the COPY wrote (the checkout keeps them after)."""
    started = time.monotonic()
    report_summaries.rebuild(cursor)
    log(f"report summaries rebuilt in {time.monotonic() - started:.1f} s")


def _copied(figures: LoadFigures) -> str:
    parts = []
    for table in (ITEM, CUSTOMER, SALE):
        table_figures = figures.tables[table]
        rate = table_figures.rows / table_figures.copy_seconds if table_figures.copy_seconds else 0
        parts.append(f"{table.label} {table_figures.rows:,} copied ({rate:,.0f}/s)")
    return ", ".join(parts)


def reset(*, runs_dir: Path) -> int:
    check_reachable()
    check_migrated()
    with transaction.atomic(), connection.connection.cursor() as cursor:
        lock(cursor)
        state = read_state(cursor)
        if not state.lab_slugs:
            log("no lab data in the database: nothing to reset")
        else:
            reset_lab_data(cursor, state)
            _rebuild_report_summaries(cursor)
    (runs_dir / FILE_NAME).unlink(missing_ok=True)
    log(f"removed {runs_dir / FILE_NAME} (its accounts are gone)")
    return 0
