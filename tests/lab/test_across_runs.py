"""The across-run statistics: exact t tails, Holm, a planted shift found, pure noise not flagged.

The noise is modelled as it behaves on a shared machine: each run of unchanged code gets
its own random slowdown (log-normal), on top of its requests' own spread.
"""

from __future__ import annotations

import math
import random

import pytest

from lab.across_runs import (
    ALPHA,
    Spread,
    adjust,
    compare_across_runs,
    holm,
    spread_of,
    t_quantile,
    t_two_sided_p,
)
from lab.resample import compare_quantile

NAMES = 26  # request names of the default load test, as in the issue


@pytest.mark.parametrize(
    ("df", "critical"), [(1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423)]
)
def test_t_quantiles_match_the_tables(df: int, critical: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(critical, abs=1e-3)
    assert t_two_sided_p(critical, df) == pytest.approx(0.05, abs=1e-4)


def test_t_tail_limits() -> None:
    assert t_two_sided_p(0.0, 5) == pytest.approx(1.0)
    assert t_two_sided_p(math.inf, 5) == 0.0
    assert t_two_sided_p(50.0, 5) < 1e-6


def test_holm_adjusts_step_down() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, max(.., 2*0.03), max(.., 1*0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []


def _runs(rng: random.Random, center: float, run_sd: float, runs: int) -> list[float]:
    return [center * math.exp(rng.gauss(0.0, run_sd)) for _ in range(runs)]


def _one_comparison(
    rng: random.Random, runs: int, run_sd: float, shifts: dict[int, float]
) -> list[tuple[int, bool, float]]:
    """(name index, significant, ratio) per name and percentile after Holm."""
    estimates, index = [], []
    for name in range(NAMES):
        for center in (20_000.0 + 1000 * name, 90_000.0 + 3000 * name):  # p50, p95 in us
            base = _runs(rng, center, run_sd, runs)
            cand = _runs(rng, center * shifts.get(name, 1.0), run_sd, runs)
            est = compare_across_runs(base, cand)
            assert est is not None
            estimates.append(est)
            index.append(name)
    return [(i, e.significant, e.ratio) for i, e in zip(index, adjust(estimates), strict=True)]


def test_pure_noise_across_runs_is_not_flagged() -> None:
    """A/A: 300 comparisons of 26 names x 2 percentiles, 3 or 5 runs a side, 15 % run-to-run
    spread. Holm keeps the chance of any false alarm per comparison near ALPHA."""
    rng = random.Random(18)
    comparisons = 300
    for runs in (3, 5):
        false_alarms = sum(
            any(sig for _, sig, _ in _one_comparison(rng, runs, 0.15, {}))
            for _ in range(comparisons)
        )
        assert false_alarms / comparisons <= ALPHA + 0.03, (runs, false_alarms)


def test_planted_shift_is_found_on_its_names_only() -> None:
    """A/B: two of 26 names 2x slower (an N+1), 5 runs a side, 15 % run-to-run spread.

    With Holm over 52 tests the bar is high: t > 5.0 at df 8. Three runs a side (df 4,
    t > 8.6) would need a 2.9x change at this spread; a noise floor adds its df.
    """
    rng = random.Random(19)
    shifted = {3: 2.0, 11: 2.0}
    found_both, elsewhere = 0, 0
    for _ in range(50):
        results = _one_comparison(rng, 5, 0.15, shifted)
        flagged = {i for i, sig, _ in results if sig}
        found_both += shifted.keys() <= flagged
        elsewhere += bool(flagged - shifted.keys())
        assert all(ratio > 1 for i, sig, ratio in results if sig and i in shifted)
    assert found_both >= 45, found_both  # power >= 90 % at this effect and spread
    assert elsewhere <= 4, elsewhere


def test_per_request_bootstrap_calls_noise_significant_which_is_why_runs_are_the_unit() -> None:
    """The old single-pair test: two runs of unchanged code, one 15 % slower by chance of
    the machine, 1500 requests each. Resampling requests calls that significant; the
    across-run test with one run per side gives no verdict at all."""
    rng = random.Random(20)
    base = sorted(rng.lognormvariate(4.5, 0.4) for _ in range(1500))
    cand = sorted(rng.lognormvariate(4.5, 0.4) * 1.15 for _ in range(1500))
    assert compare_quantile(base, cand, 0.5).significant
    single = compare_across_runs([base[750]], [cand[750]])
    assert single is not None
    assert not single.judged
    assert single.verdict() == "no verdict: spread unknown"


def test_noise_floor_judges_a_single_pair() -> None:
    floor = Spread(sd_log=0.10, runs=8)
    within = compare_across_runs([100.0], [108.0], floor)
    assert within is not None
    assert within.judged
    assert not within.significant
    assert within.verdict() == "within noise"
    assert within.variance_source == "noise floor"
    assert within.variance_df == 7
    slower = compare_across_runs([100.0], [200.0], floor)
    assert slower is not None
    assert slower.significant
    assert slower.verdict() == "2.00x slower"
    faster = compare_across_runs([200.0], [100.0], floor)
    assert faster is not None
    assert faster.verdict() == "2.00x faster"


def test_spread_needs_two_runs_and_pools_with_the_floor() -> None:
    assert spread_of([5.0]) is None
    spread = spread_of([100.0, 110.0, 121.0])
    assert spread is not None
    assert spread.runs == 3
    assert spread.sd_log == pytest.approx(math.log(1.1))
    est = compare_across_runs([100.0, 110.0], [100.0, 110.0], Spread(0.1, 4))
    assert est is not None
    assert est.variance_source == "runs + noise floor"
    assert est.variance_df == 2 + 3
    assert est.ratio == pytest.approx(1.0)
    assert not est.significant
    too_little = compare_across_runs([100.0, 110.0], [120.0])
    assert too_little is not None
    assert not too_little.judged
