"""The browser section's analysis (lab/page_loads.py) on hand-made rows: each asset finding
fires on its defect and stays quiet on the healthy case beside it; the page table's figures."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from lab.page_loads import (
    MIN_COMPRESSIBLE_BYTES,
    MIN_REPEAT_LOADS,
    asset_findings,
    page_table,
    quantile,
)

GOOD = {
    "content_type": 'text/css; charset="utf-8"',
    "content_encoding": "br",
    "cache_control": "max-age=315360000, public, immutable",
    "decoded_bytes": 2053,
}


def asset(url: str = "/static/core/app.1.css", *, repeat: bool = False, **over: Any) -> dict:
    cached = over.pop("from_cache", repeat)
    row = {**GOOD, "url": url, "repeat": repeat, "from_cache": cached}
    row["transfer_bytes"] = 0 if cached else 800
    row.update(over)
    return row


def kinds(rows: list[dict]) -> dict[str, list[str]]:
    found, _, _ = asset_findings(rows)
    out: dict[str, list[str]] = {}
    for f in found:
        out.setdefault(f.kind, []).append(f.url)
    return out


def healthy_visit(extra: int = MIN_REPEAT_LOADS) -> list[dict]:
    return [asset()] + [asset(repeat=True) for _ in range(extra)]


def test_a_healthy_visit_has_no_finding() -> None:
    found, repeats, notes = asset_findings(healthy_visit())
    assert (found, repeats, notes) == ([], MIN_REPEAT_LOADS, [])


@pytest.mark.parametrize(
    ("over", "flagged"),
    [
        ({"content_encoding": None}, True),
        ({"content_encoding": "identity"}, True),
        ({"content_encoding": "gzip"}, False),
        ({"content_encoding": None, "decoded_bytes": MIN_COMPRESSIBLE_BYTES - 1}, False),
        ({"content_encoding": None, "content_type": "image/png"}, False),  # already compressed
        ({"content_encoding": None, "content_type": "image/svg+xml"}, True),
        ({"content_encoding": None, "content_type": "text/javascript"}, True),
    ],
)
def test_uncompressed(over: dict, flagged: bool) -> None:
    rows = [asset(**over), *healthy_visit()[1:]]
    assert ("uncompressed" in kinds(rows)) is flagged


@pytest.mark.parametrize(
    ("cache_control", "flagged"),
    [
        (None, True),
        ("no-cache", True),
        ("max-age=3600, no-store", True),
        ("max-age=0, public", True),
        ("public", True),
        ("max-age=60, public", False),
        ("max-age=315360000, public, immutable", False),
    ],
)
def test_no_cache_headers(cache_control: str | None, flagged: bool) -> None:
    rows = [asset(cache_control=cache_control), *healthy_visit()[1:]]
    assert ("no cache headers" in kinds(rows)) is flagged


def test_an_asset_only_ever_taken_from_the_cache_is_not_judged_on_headers() -> None:
    """Headers are judged on a download: a cached row carries no evidence of its own."""
    rows = [asset(repeat=True, cache_control=None)] * MIN_REPEAT_LOADS
    assert kinds(rows) == {}


def test_re_downloaded_needs_enough_repeats_and_a_majority_going_to_the_network() -> None:
    network = [asset(repeat=True, from_cache=False) for _ in range(MIN_REPEAT_LOADS)]
    assert kinds([asset(), *network])["re-downloaded"] == ["/static/core/app.1.css"]
    few = network[: MIN_REPEAT_LOADS - 1]
    found, repeats, notes = asset_findings([asset(), *few])
    assert found == []
    assert repeats == MIN_REPEAT_LOADS - 1
    assert "too few repeat visits" in notes[0]
    mostly_cached = [asset(repeat=True, from_cache=False), *healthy_visit(3)[1:]]
    assert "re-downloaded" not in kinds([asset(), *mostly_cached])  # 1 of 4 < half


def test_page_table_quantiles_front_end_and_html_time_beside_it() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE requests (method VARCHAR, name VARCHAR, response_time_us BIGINT)")
    con.execute("INSERT INTO requests VALUES ('GET', '/pos/', 100000), ('GET', '/pos/', 300000)")
    con.execute("INSERT INTO requests VALUES ('PAGE', '/pos/ (browser)', 999000)")
    loads = [
        {"page": "/pos/", "ttfb_us": 100_000 * k, "dom_content_loaded_us": 150_000 * k,
         "load_us": 400_000 * k, "lcp_us": 300_000 * k, "resources": 3,
         "document_transfer_bytes": 1024, "resource_transfer_bytes": 1024, "failure": None}
        for k in (1, 2, 3)
    ] + [{"page": "/pos/", "failure": "HTTP 500"}]  # fmt: skip
    (pos,) = page_table(loads, con, target_ms=2000.0)
    assert (pos.loads, pos.failures) == (4, 1)
    assert pos.load_ms == (800.0, pytest.approx(1160.0))
    assert pos.ttfb_ms[0] == 200.0
    assert pos.front_end_ms == 600.0
    assert pos.front_end_share == 0.75
    assert pos.html_ms == (200.0, pytest.approx(290.0))  # the GET rows only, not the PAGE row
    assert pos.html_requests == 2
    assert pos.transfer_kib == 2.0
    assert pos.ok
    assert not page_table(loads, con, target_ms=1000.0)[0].ok  # p95 1160 ms


def test_quantile_matches_duckdb() -> None:
    values = [3.0, 1.0, 10.0, 7.0]
    sql = "SELECT quantile_cont(v::DOUBLE, 0.95) FROM (VALUES (3), (1), (10), (7)) t(v)"
    expected = duckdb.connect().execute(sql).fetchone()[0]
    assert quantile(values, 0.95) == pytest.approx(expected)
    assert quantile([], 0.5) is None
