"""Benchmark: `python -m seed --scale large` wall time and rows/s per table, and COPY vs ORM.

    .venv/bin/python -m tests.harness -- .venv/bin/python bench/bench_seed.py \
        [--scale large] [--orm-items 100000] [--via-pgbouncer]

Needs the harness's PostgreSQL (DATABASE_* variables; the seed goes straight to PostgreSQL on
DATABASE_DIRECT_PORT as the Compose lab's seed does, or through PgBouncer with --via-pgbouncer).
Steps: migrate the throw-away database; run the seed as a subprocess and time it (its progress
and per-table figures stream through); then load ORM_ITEMS item rows from the seed's own
generator twice into a scratch tenant, each in a transaction that is rolled back: once with
Django's `bulk_create`, once with COPY, both against the same indexed table, and print the ratio.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "app")]
SEED_TIMEOUT_S = 30 * 60


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large")
    parser.add_argument("--orm-items", type=int, default=100_000)
    parser.add_argument("--via-pgbouncer", action="store_true")
    parser.add_argument(
        "--seed-args", default="", help="extra seed arguments, e.g. '--items 250000'"
    )
    return parser.parse_args(argv)


def seed_env(via_pgbouncer: bool, runs_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    if not via_pgbouncer:
        env["DATABASE_PORT"] = env["DATABASE_DIRECT_PORT"]
    env["LAB_RUNS_DIR"] = str(runs_dir)
    return env


def run_seed(args: argparse.Namespace, env: dict[str, str]) -> tuple[float, float | None]:
    """(wall seconds, items/s of the seed's item path: COPY + index rebuild) of one seed run."""
    command = [sys.executable, "-m", "seed", "--scale", args.scale, *args.seed_args.split()]
    print(f"$ {' '.join(command[1:])}  (database port {env['DATABASE_PORT']})", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    item_rate = None
    assert process.stderr is not None
    for line in process.stderr:  # the seed's progress, passed through as it comes
        print(line, end="", flush=True)
        # "[seed] items   1,000,000   2.3   426,641   12.7": rows, COPY s, rows/s, index s
        match = re.match(r"\[seed\] items\s+([\d,]+)\s+([\d.]+)\s+[\d,]+\s+([\d.]+)$", line)
        if match:
            rows = int(match[1].replace(",", ""))
            item_rate = rows / max(float(match[2]) + float(match[3]), 1e-9)
    code = process.wait(timeout=SEED_TIMEOUT_S)
    wall = time.monotonic() - started
    if code != 0:
        sys.exit(f"bench_seed: the seed failed with exit code {code}")
    return wall, item_rate


def orm_vs_copy(count: int) -> tuple[float, float]:
    """Seconds to load `count` items via bulk_create and via COPY (same rows, same indexes)."""
    from django.db import connection, transaction

    from jewelry.inventory.models import Category, Item
    from jewelry.tenants.models import Branch, Tenant
    from seed.clock import DEFAULT_END, Clock
    from seed.generate import IdCounter, Pools, TenantGenerator, TenantPlan
    from seed.scales import SCALES
    from seed.tables import ITEM, TABLES

    clock = Clock(DEFAULT_END)
    scale = SCALES["doc"]
    generator = TenantGenerator(
        seed=7, scale=scale, clock=clock, pools=Pools.build(7), encode_password=lambda p, s: "x"
    )
    plan = TenantPlan(0, "Bench ORM", "bench-orm", clock.sales_start - 400 * 86_400, count, 0, 0)

    def scratch() -> tuple[int, list[str]]:
        tenant = Tenant.objects.create(name="Bench ORM", slug="bench-orm-scratch")
        branch = Branch.unscoped.create(tenant=tenant, name="Main", code="B1")
        categories = [
            Category.unscoped.create(tenant=tenant, name=f"C{k}", slug=f"c{k}") for k in range(8)
        ]
        ids = IdCounter({table: 1 for table in TABLES})
        ids.next_id[ITEM] = (
            Item.unscoped.order_by("-id").values_list("id", flat=True).first() or 0
        ) + 1
        rows = generator.tenant(plan, ids).rows[ITEM]
        # Point the generated rows at this scratch tenant's own category and branch.
        fixed = []
        for row in rows:
            fields = row.split("\t")
            fields[13] = str(categories[int(fields[13]) % 8].pk)
            fields[14], fields[15] = str(branch.pk), str(tenant.pk)
            fixed.append("\t".join(fields))
        return tenant.pk, fixed

    def as_objects(rows: list[str]) -> list[Item]:
        objects = []
        for row in rows:
            f = row.split("\t")
            stamp = datetime.fromisoformat(f[11].replace("+00", "+00:00"))
            objects.append(
                Item(
                    sku=f[1], name=f[2], metal=f[3], karat=None if f[4] == "\\N" else int(f[4]),
                    weight_grams=Decimal(f[5]), gemstone=f[6], cost=Decimal(f[7]),
                    price=Decimal(f[8]), quantity=int(f[9]), low_stock_threshold=int(f[10]),
                    created_at=stamp, updated_at=stamp, category_id=int(f[13]),
                    branch_id=int(f[14]), tenant_id=int(f[15]),
                )
            )  # fmt: skip
        return objects

    class Rollback(Exception):
        pass

    timings = {}
    for method in ("bulk_create", "copy"):
        try:
            with transaction.atomic():
                _tenant, rows = scratch()
                objects = as_objects(rows) if method == "bulk_create" else []
                started = time.monotonic()
                if method == "bulk_create":
                    Item.unscoped.bulk_create(objects, batch_size=2_000)
                else:
                    payload = io.BytesIO(("\n".join(rows) + "\n").encode())
                    with connection.connection.cursor() as cursor:
                        cursor.copy_expert(
                            f"COPY {ITEM.name} ({ITEM.column_list}) FROM STDIN", payload
                        )
                timings[method] = time.monotonic() - started
                print(f"{method}: {count:,} items in {timings[method]:.1f} s", flush=True)
                raise Rollback
        except Rollback:
            pass
    return timings["bulk_create"], timings["copy"]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if "DATABASE_DIRECT_PORT" not in os.environ:
        sys.exit("bench_seed: run it under the test harness: python -m tests.harness -- ...")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared)")
    print("migrating the harness database ...", flush=True)
    call_command("migrate", verbosity=0)
    runs_dir = Path(os.environ.get("LAB_TEST_TMPDIR", "/tmp")) / "bench-seed-runs"
    wall, seed_item_rate = run_seed(args, seed_env(args.via_pgbouncer, runs_dir))
    print(f"seed --scale {args.scale}: {wall:.1f} s wall (target for large: < 300 s)", flush=True)
    if seed_item_rate:
        print(f"seed item path (COPY + index rebuild): {seed_item_rate:,.0f} items/s")
    print(f"ORM vs COPY on {args.orm_items:,} items into the indexed table (rolled back) ...")
    orm, copy = orm_vs_copy(args.orm_items)
    print(
        f"bulk_create {args.orm_items / orm:,.0f} items/s vs COPY {args.orm_items / copy:,.0f} "
        f"items/s: COPY is {orm / copy:.1f}x faster (same rows, same indexes)"
    )
    if seed_item_rate:
        print(
            f"seed item path vs bulk_create into the indexed table: "
            f"{seed_item_rate / (args.orm_items / orm):.1f}x faster"
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
