"""Page loads as the browser users saw them, and the asset findings (issue 16).

Reads `page_loads/` and `page_assets/` (lab/schemas.py, written by locustfiles/_browser.py)
and the run's `requests` table (the HTTP users' time for the same page's HTML).

The table: per page, p50/p95 of time to first byte, DOMContentLoaded, the load event and
Largest Contentful Paint, against the page-load target (targets.toml `page_p95_ms`, 2 s),
beside the HTML request's p50/p95 as the HTTP users measured it. "Front end" is the load
event minus the time to first byte (p50s): what the browser spends after the HTML starts
arriving (the rest of the HTML, assets, parsing, scripts, layout).

Findings, each on the evidence named (thresholds here, tested both ways):
- uncompressed: a downloaded asset of a compressible type (text, JavaScript, JSON, SVG, XML)
  of at least MIN_COMPRESSIBLE_BYTES decoded, served without Content-Encoding. One response
  suffices: compression is a property of how the server answers, not of chance.
- no cache headers: a downloaded static asset whose Cache-Control is missing, says no-store or
  no-cache, or allows no positive max-age. One response suffices, as above.
- re-downloaded: on repeat visits (a page loaded again in the same browser context), at least
  REDOWNLOAD_MIN_RATIO of the loads of assets the context already had went to the network.
  Needs MIN_REPEAT_LOADS such loads; fewer and the report says "too few repeat visits".
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lab.contract import RunFolder

MIN_COMPRESSIBLE_BYTES = 1024  # below this, compression saves less than a packet
REDOWNLOAD_MIN_RATIO = 0.5
MIN_REPEAT_LOADS = 3
COMPRESSIBLE = re.compile(r"^(text/|application/(javascript|json|xml|[a-z.+-]*\+xml)|image/svg)")
MAX_AGE = re.compile(r"max-age=(\d+)")
BROWSER_SUFFIX = " (browser)"  # request names of page loads (locustfiles/_browser.py)
MIB = 1024 * 1024


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (DuckDB's quantile_cont)."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    position = (len(data) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return data[low] + (data[high] - data[low]) * (position - low)


@dataclass
class PageStats:
    page: str
    loads: int
    failures: int
    ttfb_ms: tuple[float | None, float | None]  # (p50, p95)
    dom_content_loaded_ms: tuple[float | None, float | None]
    load_ms: tuple[float | None, float | None]
    lcp_ms: tuple[float | None, float | None]
    resources: float | None  # median per load
    transfer_kib: float | None  # median KiB per load (document + resources)
    html_ms: tuple[float | None, float | None]  # the HTTP users' GET of the page
    html_requests: int
    target_ms: float

    @property
    def front_end_ms(self) -> float | None:
        load, ttfb = self.load_ms[0], self.ttfb_ms[0]
        return None if load is None or ttfb is None else max(0.0, load - ttfb)

    @property
    def front_end_share(self) -> float | None:
        load, front = self.load_ms[0], self.front_end_ms
        return None if not load or front is None else front / load

    @property
    def ok(self) -> bool:
        p95 = self.load_ms[1]
        return p95 is not None and p95 < self.target_ms


@dataclass
class AssetFinding:
    kind: str  # "uncompressed", "no cache headers", "re-downloaded"
    url: str
    evidence: str

    def line(self) -> str:
        return f"{self.url}: {self.kind} ({self.evidence})"


@dataclass
class BrowserPageLoads:
    pages: list[PageStats]
    findings: list[AssetFinding]
    assets: int  # distinct static assets seen
    repeat_loads: int  # loads of an asset the browser context already had
    memory_mib: tuple[float | None, float | None]  # PSS of one browser: (median, max)
    notes: list[str] = field(default_factory=list)
    skipped_parts: list[str] = field(default_factory=list)


def _read(parts: list[Path], schema: pa.Schema, skipped: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for part in parts:
        try:
            table = pq.read_table(part)
        except Exception as exc:  # a damaged part costs its own rows, never the report
            skipped.append(f"{part}: unreadable ({type(exc).__name__})")
            continue
        rows.extend(table.select([n for n in schema.names if n in table.column_names]).to_pylist())
    return rows


def _ms(values: list[int | None]) -> tuple[float | None, float | None]:
    millis = [v / 1000.0 for v in values if v is not None]
    return quantile(millis, 0.5), quantile(millis, 0.95)


def _html_times(con: Any, page: str) -> tuple[tuple[float | None, float | None], int]:
    row = con.execute(
        "SELECT count(*), quantile_cont(response_time_us, 0.5) / 1000.0, "
        "quantile_cont(response_time_us, 0.95) / 1000.0 FROM requests "
        "WHERE method = 'GET' AND name = ?",
        [page],
    ).fetchone()
    return (row[1], row[2]), int(row[0] or 0)


def page_table(loads: list[dict[str, Any]], con: Any, target_ms: float) -> list[PageStats]:
    by_page: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in loads:
        by_page[row["page"]].append(row)
    pages = []
    for page in sorted(by_page):
        rows = by_page[page]
        ok = [r for r in rows if not r.get("failure")]
        html, html_requests = _html_times(con, page) if con is not None else ((None, None), 0)
        transfer = [
            ((r.get("document_transfer_bytes") or 0) + (r.get("resource_transfer_bytes") or 0))
            / 1024.0
            for r in ok
        ]
        pages.append(
            PageStats(
                page=page,
                loads=len(rows),
                failures=len(rows) - len(ok),
                ttfb_ms=_ms([r.get("ttfb_us") for r in ok]),
                dom_content_loaded_ms=_ms([r.get("dom_content_loaded_us") for r in ok]),
                load_ms=_ms([r.get("load_us") for r in ok]),
                lcp_ms=_ms([r.get("lcp_us") for r in ok]),
                resources=quantile([float(r.get("resources") or 0) for r in ok], 0.5),
                transfer_kib=quantile(transfer, 0.5),
                html_ms=html,
                html_requests=html_requests,
                target_ms=target_ms,
            )
        )
    return pages


def _cacheable(cache_control: str | None) -> bool:
    if not cache_control:
        return False
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return False
    match = MAX_AGE.search(lowered)
    return bool(match and int(match.group(1)) > 0)


def asset_findings(assets: list[dict[str, Any]]) -> tuple[list[AssetFinding], int, list[str]]:
    """(findings, repeat loads, notes) over every asset row of the run."""
    downloaded: dict[str, dict[str, Any]] = {}
    repeats: dict[str, list[bool]] = defaultdict(list)  # url -> went to the network, per load
    for row in assets:
        url = row["url"]
        if not row.get("from_cache") and (row.get("transfer_bytes") or 0) > 0:
            downloaded.setdefault(url, row)
        if row.get("repeat"):
            repeats[url].append(not row.get("from_cache") and (row.get("transfer_bytes") or 0) > 0)
    findings: list[AssetFinding] = []
    for url, row in sorted(downloaded.items()):
        content_type = (row.get("content_type") or "").lower()
        encoding = (row.get("content_encoding") or "").lower()
        size = int(row.get("decoded_bytes") or 0)
        if (
            COMPRESSIBLE.match(content_type)
            and size >= MIN_COMPRESSIBLE_BYTES
            and encoding in ("", "identity")
        ):
            findings.append(
                AssetFinding(
                    "uncompressed",
                    url,
                    f"{content_type.split(';')[0]}, {size} bytes sent without Content-Encoding",
                )
            )
        if not _cacheable(row.get("cache_control")):
            header = row.get("cache_control")
            findings.append(
                AssetFinding(
                    "no cache headers",
                    url,
                    f"Cache-Control: {header}" if header else "no Cache-Control header",
                )
            )
    repeat_loads = sum(len(v) for v in repeats.values())
    notes = []
    if repeat_loads < MIN_REPEAT_LOADS:
        notes.append(
            f"too few repeat visits to judge re-downloads ({repeat_loads} asset loads from an "
            f"already visited page, {MIN_REPEAT_LOADS} needed)"
        )
    else:
        for url, fetched in sorted(repeats.items()):
            network = sum(fetched)
            if network and network / len(fetched) >= REDOWNLOAD_MIN_RATIO:
                findings.append(
                    AssetFinding(
                        "re-downloaded",
                        url,
                        f"{network} of {len(fetched)} loads on repeat visits went to the network",
                    )
                )
    return findings, repeat_loads, notes


def collect(run_dir: Path, con: Any, target_ms: float) -> BrowserPageLoads | None:
    """The browser section of a run's report; None when the run had no browser users."""
    from lab.schemas import PAGE_ASSET_SCHEMA, PAGE_LOAD_SCHEMA

    folder = RunFolder(run_dir)
    skipped: list[str] = []
    loads = _read(folder.page_load_parts(), PAGE_LOAD_SCHEMA, skipped)
    if not loads:
        return None
    assets = _read(folder.page_asset_parts(), PAGE_ASSET_SCHEMA, skipped)
    findings, repeat_loads, notes = asset_findings(assets)
    memory = [r["browser_pss_bytes"] / MIB for r in loads if r.get("browser_pss_bytes")]
    return BrowserPageLoads(
        pages=page_table(loads, con, target_ms),
        findings=findings,
        assets=len({row["url"] for row in assets}),
        repeat_loads=repeat_loads,
        memory_mib=(quantile(memory, 0.5), max(memory) if memory else None),
        notes=notes,
        skipped_parts=skipped,
    )
