"""Command line of the seed: parse, set up Django, dispatch; every failure is one line on stderr.

python -m seed --scale small                 # seed (idempotent: a second run does nothing)
python -m seed --scale large --items 250000  # a named scale with a per-table override
python -m seed --reset                       # delete lab tenants and all their rows
python -m seed --hash                        # SHA-256 of the lab data (determinism check)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from lab.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED

DEFAULT_RANDOM_SEED = 20_261_101


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"seed: {message} (see python -m seed --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    from seed.clock import DEFAULT_END
    from seed.scales import SCALES

    parser = _OneLineParser(
        prog="python -m seed",
        description="Generate deterministic multi-tenant jewelry data and bulk-load it.",
    )
    parser.add_argument(
        "--scale",
        default=os.environ.get("LAB_SCALE") or "small",
        help=f"named volumes: {', '.join(SCALES)} (default $LAB_SCALE or small)",
    )
    counts = parser.add_argument_group("per-table overrides of the scale (totals over tenants)")
    for name in ("tenants", "users-per-tenant", "branches-per-tenant", "terminals-per-branch",
                 "items", "customers", "sales"):  # fmt: skip
        counts.add_argument(f"--{name}", type=int, default=None, metavar="N")
    parser.add_argument(
        "--random-seed", type=int, default=DEFAULT_RANDOM_SEED,
        help=f"same seed, same bytes (default {DEFAULT_RANDOM_SEED})",
    )  # fmt: skip
    parser.add_argument(
        "--end-date", default=DEFAULT_END.isoformat(),
        help="YYYY-MM-DD: sales span the year before it (default fixed, for reproducibility)",
    )  # fmt: skip
    parser.add_argument(
        "--runs-dir",
        default=None,
        help="credentials.json goes here (default $LAB_RUNS_DIR or ./runs)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--reset",
        action="store_true",
        help="delete only lab-generated tenants and everything under them, then stop",
    )
    action.add_argument(
        "--replace",
        action="store_true",
        help="replace lab data seeded with other parameters (one transaction)",
    )
    action.add_argument(
        "--hash", action="store_true", help="print the SHA-256 of the lab data and stop"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="seed even though the database holds tenants the seed did not generate",
    )
    return parser


def _setup_django() -> None:
    import seed  # noqa: F401 (puts app/ on sys.path)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from seed.clock import parse_end_date
    from seed.scales import OVERRIDABLE, ScaleError, resolve

    overrides = {name: getattr(args, name) for name in OVERRIDABLE}
    scale = resolve(args.scale, overrides)
    try:
        end_date = parse_end_date(args.end_date)
    except ValueError as error:
        raise ScaleError(str(error)) from None
    _setup_django()

    from seed.credentials import runs_dir
    from seed.load import SeedRequest, reset, seed

    if args.reset:
        return reset(runs_dir=runs_dir(args.runs_dir))
    if args.hash:
        return _print_hash()
    request = SeedRequest(
        scale=scale,
        random_seed=args.random_seed,
        end_date=end_date,
        runs_dir=runs_dir(args.runs_dir),
        force=args.force,
        replace=args.replace,
    )
    return seed(request)


def _print_hash() -> int:
    from django.db import connection, transaction

    from seed.digest import content_hash
    from seed.state import check_migrated, check_reachable

    check_reachable()
    check_migrated()
    with transaction.atomic(), connection.connection.cursor() as cursor:
        digest, rows = content_hash(cursor)
    print(digest)
    print(f"[seed] hashed {rows:,} lab rows", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from seed.generate import SeedError
    from seed.scales import ScaleError

    try:
        return run(argv)
    except ScaleError as error:
        print(f"seed: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SeedError as error:
        print(f"seed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "seed: interrupted; the transaction was rolled back, nothing was written",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except Exception as error:  # one line, not a traceback; the load rolled back
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"seed: failed ({type(error).__name__}: {first}); the transaction was rolled back",
            file=sys.stderr,
        )
        return EXIT_FAILED
