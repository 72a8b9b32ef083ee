"""Users never share a seeded account by accident, across workers (a real master + 2 workers).

Accounts come from one ledger on the master through locust-plugins' Distributor
(`locustfiles/_accounts.py`). The evidence is the app's own: Django stamps `last_login` on
every account that signs in, and the record counts the sign-ins. Four users over two workers
with six accounts: four sign-ins on four different accounts. (The offsets of before, worker
index x 7, started worker 1 on worker 0's second account: three accounts for four users.)
The single-process run: tests/locust/test_scenarios.py (same check, LocalRunner).
The ledger's rules in-process: tests/locust/test_account_ledger.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from jewelry.tenants.models import User
from tests.app.factories import PASSWORD, Shop
from tests.locust.conftest import LocustRun, stop
from tests.locust.test_distributed import start_cluster

pytestmark = [pytest.mark.slow]


def signed_in_since(moment: datetime) -> set[str]:
    """Accounts the app signed in since `moment` (its `last_login`), by e-mail."""
    return set(User.objects.filter(last_login__gte=moment).values_list("email", flat=True))


def form_sign_ins(record) -> int:
    posts = pc.and_(
        pc.equal(record["name"], "/accounts/login/"), pc.equal(record["method"], "POST")
    )
    return pc.sum(posts).as_py() or 0


def add_second_accounts(shops: list[Shop], runs_dir: Path) -> list[str]:
    """A second cashier per shop, listed in credentials.json: six accounts in three shops."""
    path = runs_dir / "credentials.json"
    document = json.loads(path.read_text())
    for shop in shops:
        email = f"clerk-{shop.tenant.slug}@example.test"
        User.objects.create_user(email=email, password=PASSWORD, tenant=shop.tenant, role="cashier")
        document["users"].append(
            {"tenant_id": shop.tenant.pk, "tenant_slug": shop.tenant.slug, "email": email,
             "password": PASSWORD, "role": "cashier"}
        )  # fmt: skip
    path.write_text(json.dumps(document))
    return [user["email"] for user in document["users"]]


def test_users_of_two_workers_each_get_their_own_account(
    live_apps, runs_dir, shops, tmp_path
) -> None:
    accounts = add_second_accounts(shops, runs_dir)
    app = live_apps()
    before = datetime.now(UTC)
    master, workers, _port, run_dir = start_cluster(
        app.url, runs_dir, "20260101-000000-smoke-acc2", "12s", tmp_path
    )
    try:
        code = master.wait(120)
    finally:
        for process in (master, *workers):
            stop(process)
    run = LocustRun(code, run_dir, (tmp_path / "master.log").read_text())
    assert code == 0, run.output[-4000:]
    record = run.record()
    assert len(run.record_rows_by_worker()) == 2  # both workers ran users
    signed_in = signed_in_since(before)
    assert signed_in <= set(accounts)
    # Four users (LAB_USERS), each signed in once, each on an account no other user had.
    assert form_sign_ins(record) == 4, run.output[-3000:]
    assert len(signed_in) == 4, (signed_in, run.output[-3000:])
    # The workflow record is per worker too, and a healthy run's transactions all succeeded.
    transactions = run.transactions()
    assert sorted(set(transactions["worker_id"].to_pylist())) == sorted(run.record_rows_by_worker())
    assert set(transactions["name"].to_pylist()) == {"inventory management"}
    assert transactions["failure"].null_count == transactions.num_rows
