"""`python -m lab` / `lab`: run, report, compare, calibrate, ab, soak-verdict, runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, LabError
from lab.runs_dir import resolve_run, runs_root
from lab.targets import load_targets


class _OldTargetsSpelling(argparse.Action):
    """`--targets FILE`, the old name of `--targets-file`: still works, says so in one line."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print("lab: --targets is deprecated, use --targets-file", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    # `--targets-file`, not `--targets`: next to `lab run --target URL`, one typo swapped them.
    parser.add_argument(
        "--targets-file",
        dest="targets",
        type=Path,
        metavar="FILE",
        help="TOML file overriding lab/targets.toml",
    )
    parser.add_argument(
        "--targets",
        dest="targets",
        type=Path,
        action=_OldTargetsSpelling,
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one target, e.g. api_p95_ms=300",
    )


def _add_noise_floor_options(parser: argparse.ArgumentParser) -> None:
    floor = parser.add_mutually_exclusive_group()
    floor.add_argument(
        "--noise-floor", type=Path, help="noise floor file (default: <runs>/noise-floor.json)"
    )
    floor.add_argument(
        "--no-noise-floor", action="store_true", help="judge on the compared runs alone"
    )


def _noise_floor_path(args: argparse.Namespace, root: Path) -> Path | None:
    from lab.noise_floor import FILE_NAME

    if args.no_noise_floor:
        return None
    return args.noise_floor or root / FILE_NAME


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description=__doc__)
    parser.add_argument("--runs-dir", help="runs folder (default: $LAB_RUNS_DIR or ./runs)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start a load profile, then report on it")
    run.add_argument("--profile", required=True, help="smoke, load, stress, spike, soak or arrival")
    run.add_argument("--users", type=int, help="peak users (arrival: the pool serving arrivals)")
    run.add_argument(
        "--rate",
        type=float,
        help="open model: tasks/s, all workers (arrival: constant; stress: 10 steps up to it)",
    )
    run.add_argument(
        "--model",
        choices=("open", "closed"),
        default="open",
        help="arrival: open (schedule) or closed (users paced at rate/users, for comparison)",
    )
    run.add_argument("--spawn-rate", type=float)
    run.add_argument(
        "--duration", help="as Locust's --run-time: 90, 30s, 5m, 2h, 1h30m (default: the profile's)"
    )
    run.add_argument(
        "--workers", type=int, default=0, help="distributed Locust workers (0: one process)"
    )
    run.add_argument("--scenario", help="restrict to one user class")
    run.add_argument(
        "--browsers",
        type=int,
        default=0,
        help="of the users, this many are BrowserUser: real Chromium (default 0)",
    )
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
    # Compose is the default, as for `make load` (Makefile RUN_MODE): the lab is the Compose lab.
    mode.add_argument(
        "--compose", action="store_true", help="run Locust inside the Compose lab (default)"
    )
    mode.add_argument("--local", action="store_true", help="run Locust as a local process")
    run.add_argument(
        "--abort-on-breach",
        action="store_true",
        help="stop early once a target stays breached ([abort] of lab/targets.toml); exit 1",
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
    compare.add_argument(
        "runs",
        nargs="+",
        help="one argument per side, A first: a run id or folder, several joined by commas "
        "(A1,A2,A3), or a quoted glob of run ids ('20260101-*-load-*')",
    )
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
    _add_noise_floor_options(compare)

    calibrate = sub.add_parser(
        "calibrate",
        help="A/A noise floor: run-to-run spread per request name, from runs or by running",
        description="lab calibrate RUNS... | lab calibrate --repeats N -- RUN OPTIONS "
        "(after --: the options of `lab run`, e.g. --profile load --users 20 --local)",
    )
    calibrate.add_argument(
        "runs", nargs="*", help="existing runs of one profile (ids, A,B,C, globs)"
    )
    calibrate.add_argument("--repeats", type=int, help="run the profile this many times first")

    ab = sub.add_parser(
        "ab",
        help="A/B of two git revisions: interleaved repeated runs, one verdict",
        description="lab ab BASE_REF CANDIDATE_REF [--repeats N] [-- RUN OPTIONS] "
        "(after --: options of `lab run` except --target, e.g. --profile load --users 20)",
    )
    ab.add_argument("base_ref", help="git revision of the baseline (A), e.g. main")
    ab.add_argument("candidate_ref", help="git revision of the candidate (B), e.g. HEAD")
    ab.add_argument("--repeats", type=int, default=3, help="runs per side, interleaved (3)")
    ab.add_argument(
        "--warmup", type=int, default=1, help="runs of A first, left out of the comparison (1)"
    )
    ab.add_argument("--fail-on-regression", metavar="PCT", help="exit 1 on a slowdown beyond PCT")
    ab.add_argument("--markdown", action="store_true", help="Markdown tables for CI")
    for side in ("base", "candidate"):
        ab.add_argument(
            f"--{side}-env",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"environment of the {side}'s app only, e.g. LAB_FAULTS=n_plus_one",
        )
    ab_mode = ab.add_mutually_exclusive_group()
    ab_mode.add_argument(
        "--local",
        action="store_true",
        help="serve each revision with gunicorn here, on DATABASE_*/REDIS_URL (default)",
    )
    ab_mode.add_argument(
        "--compose",
        action="store_true",
        help="an app image per revision (cached) in the running Compose lab (make lab-up)",
    )
    _add_noise_floor_options(ab)

    soak = sub.add_parser("soak-verdict", help="leaks and drift of a (soak) run")
    soak.add_argument("run", help="run id (a folder name in the runs folder)")
    soak.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus URL")
    soak.add_argument(
        "--memory-limit", help="limit to project against, e.g. 1GiB (default: meta.json limits)"
    )
    _add_target_options(soak)

    trace = sub.add_parser("trace", help="draw one archived trace as a waterfall")
    trace.add_argument("trace_id", help="32 hex digits, as in the report or lab compare")
    trace.add_argument("--run", help="run id or folder (default: search every run, newest first)")

    sub.add_parser("runs", help="list runs")
    return parser


def dispatch(args: argparse.Namespace) -> int:
    root = runs_root(args.runs_dir)
    if args.command == "runs":
        from lab.runs_table import table

        print(table(root))
        return 0
    if args.command == "trace":
        from lab.trace_command import run_trace

        return run_trace(root, args.trace_id, resolve_run(root, args.run) if args.run else None)
    if args.command == "report":
        from lab.report import run_report

        run_dir = resolve_run(root, args.run)
        targets = load_targets(run_dir, args.targets, args.set)
        return run_report(
            run_dir, targets=targets, prometheus_url=args.prometheus, jaeger_url=args.jaeger_url
        )
    if args.command == "compare":
        from lab.compare import run_compare
        from lab.run_groups import resolve_group

        return run_compare(
            [resolve_group(root, r) for r in args.runs],
            force=args.force,
            markdown=args.markdown,
            fail_on_regression=args.fail_on_regression,
            grafana_url=args.grafana_url,
            noise_floor=_noise_floor_path(args, root),
        )
    if args.command == "calibrate":
        from lab.calibrate import run_calibrate
        from lab.run_groups import resolve_group

        dirs = [d for r in args.runs for d in resolve_group(root, r)]
        return run_calibrate(root, dirs, args.repeats, _run_options(args, root))
    if args.command == "ab":
        from lab.ab import AbOptions, run_ab

        options = AbOptions.from_args(
            args, root, _run_options(args, root), _noise_floor_path(args, root)
        )
        return run_ab(options)
    if args.command == "soak-verdict":
        from lab.soak import run_soak_verdict

        run_dir = resolve_run(root, args.run)
        targets = load_targets(run_dir, args.targets, args.set)
        return run_soak_verdict(run_dir, args.prometheus, targets, args.memory_limit)
    if args.command == "run":
        from lab.runner import RunOptions, run_profile

        return run_profile(RunOptions.from_args(args, root))
    raise LabError(f"unknown command {args.command}")


# Commands that take `lab run`'s own options after `--` (one definition of those options).
RUN_OPTION_COMMANDS = ("calibrate", "ab")


def _run_options(args: argparse.Namespace, root: Path) -> argparse.Namespace | None:
    """`lab run`'s parsed options from the words after `--`, None when there were none."""
    if args.run_args is None:
        return None
    return build_parser().parse_args(["--runs-dir", str(root), "run", *args.run_args])


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    run_args = None
    if "--" in words and any(c in words[: words.index("--")] for c in RUN_OPTION_COMMANDS):
        run_args = words[words.index("--") + 1 :]
        words = words[: words.index("--")]
    args = build_parser().parse_args(words)
    args.run_args = run_args
    try:
        return dispatch(args)
    except LabError as exc:
        print(f"lab {args.command}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"lab {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
