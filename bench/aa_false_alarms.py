"""A/A false-alarm rate of `lab compare` on real runs of unchanged code, by resampling.

    PYTHONPATH=app:. .venv/bin/python bench/aa_false_alarms.py RUNS_DIR 'ID1,ID2,...'

The runs (ids joined by commas, or a quoted glob) are runs of the same code and profile
(e.g. the A/A runs `bench/bench_ab.sh` made).
Each resampled comparison splits them at random into two disjoint sides and counts as a
false alarm when any request name is called significantly slower or faster. Reported:
  - sides of `--runs-per-side` runs, judged on the runs alone (no floor);
  - single pairs judged with a noise floor measured on the OTHER runs (leave-out);
  - single pairs by the old per-request bootstrap (any name's p50/p95 CI excluding 1).
The resampled comparisons share runs, so they are not independent: the rates are estimates
with more uncertainty than a binomial count of that size suggests.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from lab.compare import Side, compare_sides, load_sample
from lab.noise_floor import NoiseFloor, conditions_of, measure
from lab.resample import compare_quantile
from lab.run_groups import resolve_group


def _any_verdict(rows: list) -> bool:
    return any(est.significant for row in rows for _, est in row.estimates())


def _any_slower(rows: list) -> bool:
    return any(est.significant and est.ratio > 1 for row in rows for _, est in row.estimates())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("runs", help="run ids joined by commas, or a quoted glob")
    parser.add_argument("--runs-per-side", type=int, default=3)
    parser.add_argument("--comparisons", type=int, default=200)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    dirs = resolve_group(args.runs_dir, args.runs)
    samples = [load_sample(d) for d in dirs]
    k = args.runs_per_side
    if len(samples) < 2 * k:
        raise SystemExit(f"need at least {2 * k} runs, found {len(samples)}")
    rng = random.Random(args.seed)
    print(f"{len(samples)} A/A runs: {', '.join(s.run_id for s in samples)}")

    alarms = slower = 0
    for _ in range(args.comparisons):
        chosen = rng.sample(samples, 2 * k)
        rows = compare_sides(Side(chosen[:k]), Side(chosen[k:]))
        alarms += _any_verdict(rows)
        slower += _any_slower(rows)
    print(f"{k} vs {k} runs, no floor: {alarms}/{args.comparisons} comparisons with any "
          f"significant change ({alarms / args.comparisons:.1%}); with a significant "
          f"slowdown (a failed gate): {slower}/{args.comparisons}")  # fmt: skip

    alarms = old_alarms = pairs = 0
    for i, a in enumerate(samples):
        for b in samples[i + 1 :]:
            others = [s for s in samples if s is not a and s is not b]
            floor = NoiseFloor(Path("-"), conditions_of(a.meta), [s.run_id for s in others],
                               measure([s.percentiles() for s in others]))  # fmt: skip
            alarms += _any_verdict(compare_sides(Side([a]), Side([b]), floor))
            old_alarms += any(
                compare_quantile(a.values[key], b.values[key], q, seed=int(q * 100)).significant
                for key in set(a.values) & set(b.values)
                for q in (0.5, 0.95)
            )
            pairs += 1
    print(f"1 vs 1 run, noise floor of the other {len(samples) - 2} runs: {alarms}/{pairs} "
          f"pairs with any significant change ({alarms / pairs:.1%})")  # fmt: skip
    print(f"1 vs 1 run, old per-request bootstrap: {old_alarms}/{pairs} pairs with any "
          f"significant change ({old_alarms / pairs:.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
