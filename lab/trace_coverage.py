"""How many of each request name's slowest requests can be opened as a trace.

With head sampling, the requests a user most wants to open (the slowest) are no more
likely to be traced than any other. The report says, per Locust request name, how many
of its ten slowest requests have a trace in the run's span archive (a trace id in the
record whose spans were archived), and the total over every name.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

TOP_N = 10


@dataclass(frozen=True)
class NameCoverage:
    method: str
    name: str
    slowest: int  # how many requests ranked (TOP_N, or fewer for a rare name)
    traced: int  # of those, with archived spans


@dataclass(frozen=True)
class TraceCoverage:
    names: list[NameCoverage]

    @property
    def traced(self) -> int:
        return sum(n.traced for n in self.names)

    @property
    def slowest(self) -> int:
        return sum(n.slowest for n in self.names)

    def line(self) -> str:
        if not self.names:
            return "slowest requests traced: no requests"
        return (
            f"slowest requests traced: {self.traced} of {self.slowest} "
            f"(the top {TOP_N} of each of {len(self.names)} request names)"
        )


def coverage(con: duckdb.DuckDBPyConnection, top_n: int = TOP_N) -> TraceCoverage:
    rows = con.execute(
        f"""WITH ranked AS (
              SELECT coalesce(method, '') AS method, name, trace_id,
                     row_number() OVER (PARTITION BY method, name
                                        ORDER BY response_time_us DESC) AS rank
              FROM requests),
            top AS (SELECT * FROM ranked WHERE rank <= {int(top_n)}),
            archived AS (
              SELECT DISTINCT trace_id FROM spans
              WHERE trace_id IN (SELECT trace_id FROM top WHERE trace_id IS NOT NULL))
           SELECT top.method, top.name, count(*), count(archived.trace_id)
           FROM top LEFT JOIN archived ON archived.trace_id = top.trace_id
           GROUP BY top.method, top.name ORDER BY top.name, top.method"""  # noqa: S608
    ).fetchall()
    return TraceCoverage([NameCoverage(r[0], r[1], int(r[2]), int(r[3])) for r in rows])
