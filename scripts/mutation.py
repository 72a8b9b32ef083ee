"""`make mutation`: mutation testing (mutmut) of the modules that decide the lab's verdicts.

mutmut changes one small thing at a time in a module (`>=` to `>`, `and` to `or`, a string,
a number) and runs the tests that cover it; a mutant that no test notices "survives". This
prints the surviving mutants per module and exits 1 when a module's survival ratio is above
SURVIVAL_BUDGET, 2 on bad input. Run it inside the test harness (the Makefile does):
its tests need the harness's PostgreSQL, PgBouncer and Redis settings.

    make mutation                          # every group below
    make mutation MODULES=target_safety,health
    make mutation MUTATION_ARGS=--retry-survivors   # after improving tests: survivors only

Which files mutmut may change and which tests it runs are `[tool.mutmut]` in pyproject.toml;
its state is kept in ./mutants/ (git-ignored), so a second run only retries what changed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")

# Verdict module groups: name -> dotted modules (each must be in [tool.mutmut] only_mutate).
GROUPS: dict[str, tuple[str, ...]] = {
    # lab/request_stats.py is left out: mostly report figures and charts. Its two breach
    # predicates (NameStats.p95_ok, failures_ok) are pinned by tests/lab/test_report_targets.py.
    "target_checks": ("lab.targets", "locustfiles._checks"),
    "health": ("lab.health",),
    "span_stats": ("lab.span_stats",),
    "soak": ("lab.soak",),
    "compare": ("lab.compare",),
    "target_safety": ("lab.target_safety",),
    "tenant_checks": ("locustfiles._tenant_checks",),
    "abort_and_generator": ("locustfiles._breach_window", "locustfiles._generator_cpu"),
    "archive_routing": ("observability.trace_archive.rows",),
}
# A module fails when more than this share of its mutants survive (surviving = not detected:
# "survived", or "no tests" cover the mutated function). Equivalent mutants (a change that
# cannot alter behaviour) are why the budget is not zero.
SURVIVAL_BUDGET = 0.20
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}
UNDETECTED = {"survived", "no tests", "suspicious"}
_MODULE_OF = re.compile(r"^(?P<module>.+?)\.x[_ǁ]")


def parse_groups(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()] or list(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise SystemExit(
            f"mutation: unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}"
        )
    return names


def results() -> dict[str, str]:
    """Mutant name -> status, from mutmut's stored results (none before a first run)."""
    if not (REPO_ROOT / "mutants").is_dir():
        return {}
    out = subprocess.run(  # noqa: S603 - our own argv
        [str(MUTMUT), "results", "--all", "true"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and _MODULE_OF.match(name):
            statuses[name] = status
    return statuses


def report(modules: list[str], statuses: dict[str, str]) -> list[str]:
    """Print the table and survivors; return the modules over budget."""
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for name, status in sorted(statuses.items()):
        match = _MODULE_OF.match(name)
        if match is None or match["module"] not in modules:
            continue
        module = match["module"]
        by_module[module][status] += 1
        if status in UNDETECTED:
            survivors[module].append(f"{name} ({status})")
    over: list[str] = []
    print(
        f"\n{'module':36} {'mutants':>8} {'killed':>7} {'survived':>9} {'ratio':>6}"
        f" {'unchecked':>9}"
    )
    for module in modules:
        counts = by_module[module]
        judged = sum(counts[s] for s in DETECTED | UNDETECTED)
        undetected = sum(counts[s] for s in UNDETECTED)
        unchecked = sum(counts.values()) - judged  # e.g. a run stopped half-way
        ratio = undetected / judged if judged else 1.0
        flag = (
            "  NOT MEASURED" if not judged else "  OVER BUDGET" if ratio > SURVIVAL_BUDGET else ""
        )
        print(
            f"{module:36} {judged:8} {judged - undetected:7} {undetected:9} {ratio:6.0%}"
            f" {unchecked:9}{flag}"
        )
        if flag:
            over.append(module)
    for module in modules:
        if survivors[module]:
            print(f"\nsurviving mutants of {module} (see one with `mutmut show NAME`):")
            for line in survivors[module]:
                print(f"  {line}")
    return over


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default="", help="comma-separated groups: " + ",".join(GROUPS))
    parser.add_argument(
        "--retry-survivors",
        action="store_true",
        help="re-test only the mutants that survived the last run (after improving the tests)",
    )
    args = parser.parse_args(argv)
    groups = parse_groups(args.modules)
    modules = [m for g in groups for m in GROUPS[g]]
    if not MUTMUT.exists():
        print(
            "mutation: mutmut not installed: pip install -r requirements/mutation.txt",
            file=sys.stderr,
        )
        return 2
    print(
        f"mutation: {', '.join(modules)} (1 process; survival budget {SURVIVAL_BUDGET:.0%})",
        flush=True,
    )
    # One process: the machine is shared, and the tests start their own services.
    targets = [f"{m}.x*" for m in modules]
    if args.retry_survivors:
        targets = [
            name
            for name, status in results().items()
            if status in UNDETECTED and _MODULE_OF.match(name)["module"] in modules  # type: ignore[index]
        ]
        print(f"mutation: retrying {len(targets)} surviving mutant(s)", flush=True)
    run = subprocess.run(  # noqa: S603 - our own argv
        [str(MUTMUT), "run", "--max-children", "1", *targets],
        cwd=REPO_ROOT,
        check=False,
    )
    statuses = results()
    if run.returncode != 0 and not statuses:
        print(
            f"mutation: mutmut failed (exit {run.returncode}): see its output above",
            file=sys.stderr,
        )
        return 2
    over = report(modules, statuses)
    if over:
        print(
            f"\nmutation: over the {SURVIVAL_BUDGET:.0%} survival budget or not measured: "
            + ", ".join(over)
        )
        return 1
    print(f"\nmutation: every module within the {SURVIVAL_BUDGET:.0%} survival budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
