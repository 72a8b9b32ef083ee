"""`python -m lab` / `lab`: run, report, compare, soak-verdict, runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.errors import EXIT_BAD_INPUT, LabError
from lab.runs_dir import resolve_run, runs_root
from lab.targets import load_targets


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", type=Path, help="TOML file overriding lab/targets.toml")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one target, e.g. api_p95_ms=300",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description=__doc__)
    parser.add_argument("--runs-dir", help="runs folder (default: $LAB_RUNS_DIR or ./runs)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start a load profile, then report on it")
    run.add_argument("--profile", required=True, help="smoke, load, stress, spike or soak")
    run.add_argument("--users", type=int)
    run.add_argument("--spawn-rate", type=float)
    run.add_argument(
        "--duration", help="as Locust's --run-time: 90, 30s, 5m, 2h, 1h30m (default: the profile's)"
    )
    run.add_argument(
        "--workers", type=int, default=0, help="distributed Locust workers (0: one process)"
    )
    run.add_argument("--scenario", help="restrict to one user class")
    run.add_argument(
        "--scale", default=None, help="data scale the app was seeded with ($LAB_SCALE)"
    )
    run.add_argument(
        "--target",
        default=None,
        help="URL under test (default: http://127.0.0.1:8000, or http://app:8000 in compose mode)",
    )
    run.add_argument(
        "--allow-target",
        action="append",
        default=[],
        metavar="HOST",
        help="allow this exact non-lab host",
    )
    run.add_argument("--trace-sample-ratio", type=float, default=None)
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--compose", action="store_true", help="run Locust inside the Compose lab")
    mode.add_argument(
        "--local", action="store_true", help="run Locust as a local process (default)"
    )
    run.add_argument("--prometheus", help="Prometheus URL for the report")
    run.add_argument("--jaeger-url", help="Jaeger UI URL for trace links")
    _add_target_options(run)

    report = sub.add_parser("report", help="write report.html and summary.md for a run")
    report.add_argument("run", help="run id (a folder name in the runs folder)")
    report.add_argument(
        "--prometheus", help="Prometheus URL (optional; adds PgBouncer, cache, generator CPU)"
    )
    report.add_argument("--jaeger-url", help="Jaeger UI URL for trace links")
    _add_target_options(report)

    compare = sub.add_parser("compare", help="compare runs: A is the baseline")
    compare.add_argument("runs", nargs="+", help="run ids: A B [C...]")
    compare.add_argument(
        "--fail-on-regression",
        metavar="PCT",
        help="exit 1 on a significant slowdown beyond PCT, e.g. 10%%",
    )
    compare.add_argument("--markdown", action="store_true", help="Markdown tables for CI")
    compare.add_argument(
        "--force", action="store_true", help="compare even if profiles or scales differ"
    )
    compare.add_argument("--grafana-url", help="Grafana URL: print links to the compare dashboard")

    soak = sub.add_parser("soak-verdict", help="leaks and drift of a (soak) run")
    soak.add_argument("run", help="run id (a folder name in the runs folder)")
    soak.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus URL")
    soak.add_argument(
        "--memory-limit", help="limit to project against, e.g. 1GiB (default: meta.json limits)"
    )
    _add_target_options(soak)

    sub.add_parser("runs", help="list runs")
    return parser


def dispatch(args: argparse.Namespace) -> int:
    root = runs_root(args.runs_dir)
    if args.command == "runs":
        from lab.runs_table import table

        print(table(root))
        return 0
    if args.command == "report":
        from lab.report import run_report

        run_dir = resolve_run(root, args.run)
        targets = load_targets(run_dir, args.targets, args.set)
        return run_report(
            run_dir, targets=targets, prometheus_url=args.prometheus, jaeger_url=args.jaeger_url
        )
    if args.command == "compare":
        from lab.compare import run_compare

        dirs = [resolve_run(root, r) for r in args.runs]
        return run_compare(
            dirs,
            force=args.force,
            markdown=args.markdown,
            fail_on_regression=args.fail_on_regression,
            grafana_url=args.grafana_url,
        )
    if args.command == "soak-verdict":
        from lab.soak import run_soak_verdict

        run_dir = resolve_run(root, args.run)
        targets = load_targets(run_dir, args.targets, args.set)
        return run_soak_verdict(run_dir, args.prometheus, targets, args.memory_limit)
    if args.command == "run":
        from lab.runner import RunOptions, run_profile

        return run_profile(RunOptions.from_args(args, root))
    raise LabError(f"unknown command {args.command}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except LabError as exc:
        print(f"lab {args.command}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"lab {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
