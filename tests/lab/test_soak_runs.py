"""Soak verdicts on real runs: the app under gunicorn with and without `LAB_FAULTS=leak`,
Locust driving it through `lab run --local --profile soak`, a real Prometheus scraping each
app, then `lab soak-verdict`.

In `make test` the two soaks run side by side for SOAK_SECONDS with a short warm-up and
minimum steady time (set per run with --set); `make soak-proof` runs the same test with the
issue's 10 minutes at 20 users and the default thresholds (LAB_SOAK_PROOF=1), and prints the
slopes the README quotes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.__main__ import main
from tests.harness.environment import REPO_ROOT
from tests.harness.live_app import LiveApp
from tests.locust.conftest import (  # noqa: F401 - live_apps, runs_dir, shops are fixtures
    live_apps,
    runs_dir,
    shops,
)

pytestmark = [pytest.mark.slow]

PROOF = os.environ.get("LAB_SOAK_PROOF") == "1"
SOAK_SECONDS = 600 if PROOF else 110
USERS = 20 if PROOF else 8
# The proof judges by the defaults (targets.toml). A 110 s soak cannot: its workers are still
# warming up after 30 s (healthy slopes of +30 to +70 MiB/h measured, about 35-75 % of their
# size per hour), so the short test leaves out 50 s, judges the next 50 s or more, and calls a
# leak growth beyond 100 % of the worker's size per hour. The planted leak's busiest worker
# grows about 550 MiB/h (~560 %/h) at 8 users.
SHORT_WINDOW = (
    () if PROOF else ("soak_warmup_s=50", "soak_min_steady_s=50", "leak_min_relative_per_hour=1.0")
)
# Drift of latency on a shared 2-core machine says more about the neighbours than the app;
# the drift rules are pinned on exact data in test_soak.py. Latency targets likewise.
RELAXED = ("latency_drift_max_ratio=100", "page_p95_ms=600000", "api_p95_ms=600000")


def _prometheus_config(app: LiveApp) -> str:
    return (
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: app\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{app.port}']\n"
    )


def _start_soak(runs: Path, app: LiveApp) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LAB_", "LOCUST_"))}
    env["PYTHONPATH"] = f"{REPO_ROOT / 'app'}:{REPO_ROOT}"
    return subprocess.Popen(
        [sys.executable, "-m", "lab", "--runs-dir", str(runs), "run", "--profile", "soak",
         "--local", "--users", str(USERS), "--duration", f"{SOAK_SECONDS}s",
         "--target", app.url, "--trace-sample-ratio", "0", "--scale", "test",
         *[a for r in RELAXED for a in ("--set", r)]],
        env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _verdict(
    capsys: pytest.CaptureFixture[str], runs: Path, prom_url: str, *settings: str
) -> tuple[int, str]:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    capsys.readouterr()
    args = [a for s in (*RELAXED, *settings) for a in ("--set", s)]
    code = main(["--runs-dir", str(runs), "soak-verdict", run_dir.name, "--prometheus", prom_url,
                 "--memory-limit", "1GiB", *args])  # fmt: skip
    return code, capsys.readouterr().out


def _worker_slopes(text: str) -> list[float]:
    """MiB/h of each app worker line in a verdict."""
    line = re.compile(r"^  app worker pid \d+: ([+-][\d.]+) MiB/h", re.MULTILINE)
    return [float(m.group(1)) for m in line.finditer(text)]


def test_leak_found_and_the_same_soak_without_it_passes(
    live_apps: Callable[..., LiveApp],  # noqa: F811
    runs_dir: Path,  # noqa: F811
    tmp_path: Path,
    prometheus_server: Callable[..., object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean = live_apps()
    leaky = live_apps(LAB_FAULTS="leak")
    clean_prom = prometheus_server(_prometheus_config(clean))
    leaky_prom = prometheus_server(_prometheus_config(leaky))
    leak_runs = tmp_path / "leak-runs"
    leak_runs.mkdir()
    (leak_runs / "credentials.json").write_bytes((runs_dir / "credentials.json").read_bytes())
    clean_runs = tmp_path / "clean-runs"
    clean_runs.mkdir()
    (clean_runs / "credentials.json").write_bytes((runs_dir / "credentials.json").read_bytes())

    soaks = [_start_soak(clean_runs, clean), _start_soak(leak_runs, leaky)]
    outputs = [p.communicate(timeout=SOAK_SECONDS + 240)[0] for p in soaks]
    for process, output in zip(soaks, outputs, strict=True):
        assert process.returncode in (0, 1), output[-3000:]

    clean_code, clean_text = _verdict(capsys, clean_runs, clean_prom.url, *SHORT_WINDOW)
    leak_code, leak_text = _verdict(capsys, leak_runs, leaky_prom.url, *SHORT_WINDOW)
    print(f"healthy soak:\n{clean_text}\nleaking soak:\n{leak_text}")

    assert leak_code == 1, leak_text
    assert leak_text.splitlines()[0].split(": ")[1].startswith("FAIL")
    leaks = [line for line in leak_text.splitlines() if line.endswith("LEAK")]
    assert leaks, leak_text
    assert all("app worker pid" in line for line in leaks), leak_text
    assert "degrades" not in leak_text.splitlines()[0], leak_text  # found by memory alone

    assert clean_code == 0, clean_text
    assert "PASS" in clean_text.splitlines()[0], clean_text
    assert "LEAK" not in clean_text
    clean_slopes, leak_slopes = _worker_slopes(clean_text), _worker_slopes(leak_text)
    assert len(clean_slopes) == 2, clean_text
    assert len(leak_slopes) == 2, leak_text
    assert max(leak_slopes) > 3 * max(max(clean_slopes), 1.0), (clean_slopes, leak_slopes)

    if not PROOF:
        # With the default warm-up and minimum steady time, these short soaks (the leaking one
        # included) are too short to judge: exit 0 with that word, never "leak".
        for runs, prom in ((clean_runs, clean_prom), (leak_runs, leaky_prom)):
            code, text = _verdict(capsys, runs, prom.url)
            assert code == 0, text
            assert "TOO SHORT TO JUDGE" in text.splitlines()[0], text
            assert "LEAK" not in text
