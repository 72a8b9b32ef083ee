"""The slow-request judge behind tail sampling: top K so far, running quantile, warm-up."""

from __future__ import annotations

import random

from locustfiles._slow_requests import SlowRequestJudge
from tests.locust.conftest import run_locust, runs_dir, shops  # noqa: F401 - fixtures


def test_every_request_of_the_final_top_k_was_judged_slow_when_it_happened() -> None:
    rng = random.Random(7)
    judge = SlowRequestJudge(quantile=0.9, keep_slowest=10, min_requests=20)
    times = [rng.lognormvariate(3, 0.6) for _ in range(5000)]
    verdicts = [judge.is_slow("GET", "/a", t) for t in times]
    top10 = sorted(range(len(times)), key=times.__getitem__)[-10:]
    assert all(verdicts[i] for i in top10)
    # Past the warm-up, about the slowest tenth is kept (the quantile is rounded up to its
    # 5 % bucket, so a little less; plus the top-K entries).
    share = sum(verdicts[1000:]) / 4000
    assert 0.05 <= share <= 0.12, share
    # A fast request is not slow; names are judged apart.
    assert not judge.is_slow("GET", "/a", min(times))
    assert judge.is_slow("GET", "/b", 1.0)  # a new name is in its warm-up


def test_quantile_one_and_no_top_k_keep_only_the_warm_up() -> None:
    judge = SlowRequestJudge(quantile=1.0, keep_slowest=0, min_requests=5)
    verdicts = [judge.is_slow("GET", "/a", 10.0) for _ in range(100)]
    assert all(verdicts[:4])
    assert not any(verdicts[4:])


def test_a_bad_tail_sampling_setting_stops_locust_with_one_line(runs_dir) -> None:  # noqa: F811
    run = run_locust(
        "http://127.0.0.1:1",
        runs_dir,
        "20260101-000000-smoke-bad0",
        env={"LAB_TRACE_SLOW_QUANTILE": "1.5", "LAB_DURATION": "2s"},
        timeout=60,
    )
    assert run.returncode == 2, run.output[-2000:]
    assert "locustfiles: LAB_TRACE_SLOW_QUANTILE='1.5' must be between 0 and 1" in run.output
    assert not (runs_dir / "20260101-000000-smoke-bad0" / "requests").exists()
