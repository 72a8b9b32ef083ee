"""The waterfalls a report draws: the slowest traced requests of each route, the example
trace of every N+1 finding, and the traced requests of the "Slowest requests" table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from lab.trace_picks import SLOWEST_PER_ROUTE, slowest_per_route
from lab.waterfall import Waterfall, build_many


@dataclass
class ReportWaterfalls:
    # (group title, [(heading, trace id)]), in the order the report shows them.
    groups: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    waterfalls: dict[str, Waterfall] = field(default_factory=dict)

    def has(self, trace_id: str | None) -> bool:
        return bool(trace_id) and trace_id in self.waterfalls

    def drawn_groups(self) -> list[tuple[str, list[tuple[str, Waterfall]]]]:
        return [
            (title, [(h, self.waterfalls[t]) for h, t in items if t in self.waterfalls])
            for title, items in self.groups
        ]


def collect(
    con: duckdb.DuckDBPyConnection,
    *,
    n_plus_one: Sequence[tuple[str, str, str]],
    slowest: Sequence[tuple[str, str | None]],
    workflows: Sequence[tuple[str, str | None]] = (),
    per_route: int = SLOWEST_PER_ROUTE,
) -> ReportWaterfalls:
    """`n_plus_one`: (route, statement, example trace id) per finding; `slowest`: (request
    label, trace id or None) per row of the report's slowest-requests table; `workflows`:
    (workflow name, trace id of its slowest traced transaction or None)."""
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    by_route: dict[str, list[tuple[str, str]]] = {}
    for pick in slowest_per_route(con, per_route):
        by_route.setdefault(pick.route, []).append(
            (f"{pick.route}: slowest traced #{pick.rank}", pick.trace_id)
        )
    groups += [(f"Slowest traced requests of {route}", items) for route, items in by_route.items()]
    if n_plus_one:
        groups.append(
            (
                "N+1 findings: example traces",
                [(f"N+1 on {route}: {stmt[:100]}", trace) for route, stmt, trace in n_plus_one],
            )
        )
    traced_workflows = [(f"{name}: slowest traced", trace) for name, trace in workflows if trace]
    if traced_workflows:
        groups.append(("Slowest traced workflow transactions", traced_workflows))
    traced_slowest = [(label, trace) for label, trace in slowest if trace]
    if traced_slowest:
        groups.append(("Slowest requests table: traced rows", list(traced_slowest)))
    wanted = list(dict.fromkeys(trace for _, items in groups for _, trace in items))
    return ReportWaterfalls(groups, build_many(con, wanted))
