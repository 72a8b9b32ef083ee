"""`make ab-compose-proof`: `lab ab --compose` for real, in its own Compose project.

1. Before the lab is up, `lab ab --compose` says so in one line (exit 2).
2. `make lab-up` from a fresh settings file (build/ab-proof.env), free ports, own project.
3. A/A: `lab ab HEAD HEAD --compose` with the defaults (1 warm-up, 3 runs a side, 20 users,
   1 minute): one image built (one commit), no name significantly slower or faster, the
   gate (`--fail-on-regression 10%`) passes.
4. A/B: HEAD against a revision made here that plants an N+1 (the inventory list loses its
   `select_related`, as LAB_FAULTS=n_plus_one does): HEAD's image is reused (no rebuild),
   the planted one is built; the slower names are only the routes that list items, at least
   one of them is found, nothing is faster, and the gate fails (exit 1).
5. The lab's own data (sales count) and app image are back after each `lab ab`.
Cleans up its project (volumes included) and the images it built unless AB_PROOF_KEEP=1.
Prints the time figures the README quotes. The checkout must be committed (lab ab --compose
builds committed revisions only).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.compare import Side, compare_sides, load_sample

REPO = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("AB_PROOF_PROJECT", "jewelry-lab-abproof")
IMAGE_REPOSITORY = os.environ.get("AB_PROOF_IMAGE", "jewelry-lab/app-abproof")
ENV_FILE = "build/ab-proof.env"
SELECTORS = "app/jewelry/inventory/selectors.py"
HEALTHY_LIST = 'if not faults.enabled("n_plus_one"):'
PLANTED_LIST = "if False:  # planted N+1 (make ab-compose-proof): no select_related"
# The routes whose view lists items through inventory_list (the planted N+1's reach);
# /pos/search/ uses it too but fetches values() in one query whatever the list does.
TOUCHED = {"GET /inventory/", "GET /inventory/?q=[search]", "GET /api/inventory/"}
FIGURES: list[str] = []


def log(text: str) -> None:
    print(f"[ab-proof {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def fail(text: str) -> None:
    raise SystemExit(f"[ab-proof] FAIL: {text}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LAB_RUNS_DIR", "LAB_SCALE", "SCALE", "MAKEFLAGS", "LAB_FAULTS")
    }
    env.update(
        COMPOSE_PROJECT_NAME=PROJECT,
        LAB_ENV_FILE=ENV_FILE,
        LAB_AB_IMAGE=IMAGE_REPOSITORY,
        LAB_APP_PORT=str(free_port()),
        LAB_LOCUST_PORT=str(free_port()),
        LAB_PROMETHEUS_PORT=str(free_port()),
        PYTHONPATH=f"{REPO / 'app'}:{REPO}",
    )
    # A Locust worker starved of CPU on a busy shared machine misses Locust's heartbeats and
    # the run ends untrustworthy (seen at a load average of 30 on 2 CPUs): allow 60 s.
    env.setdefault("LAB_HEARTBEAT_LIVENESS", "60")
    return env


ENV = environment()


def run(command: list[str], *, tee: bool = False, timeout: float = 3600) -> tuple[int, str]:
    """Run a command; its output is returned (and shown as it comes when `tee`)."""
    process = subprocess.Popen(
        command, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if tee:
            sys.stderr.write(line)
    return process.wait(timeout=timeout), "".join(lines)


# `lab run` options of every run (after `--`); empty = lab ab's defaults. On a heavily shared
# machine the default 20 users can starve the app until runs end untrustworthy (and lab ab
# stops, rightly): e.g. AB_PROOF_RUN_ARGS='--profile smoke --users 6 --spawn-rate 6
# --duration 40s --scenario APIUser'.
RUN_ARGS = os.environ.get("AB_PROOF_RUN_ARGS", "").split()


def lab_ab(*args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    run_args = ["--", *RUN_ARGS] if RUN_ARGS and "--compose" in args else []
    code, out = run([sys.executable, "-m", "lab", "ab", *args, *run_args], tee=True)
    return code, out, time.monotonic() - started


def psql(sql: str) -> str:
    query = 'psql -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"'
    code, out = run(["bash", "scripts/lab-stack.sh", "compose", "exec", "-T", "postgres",
                     "sh", "-c", query, sql])  # fmt: skip
    if code != 0:
        fail(f"psql {sql!r}: {out}")
    return out.strip()


def app_image() -> str:
    code, out = run(["bash", "scripts/lab-stack.sh", "compose", "ps", "--format",
                     "{{.Image}}", "app"])  # fmt: skip
    return out.strip() if code == 0 else f"(none: {out.strip()})"


def planted_revision(parent: str) -> str:
    """A commit on top of `parent` (no branch, no worktree) whose inventory list has an N+1."""
    source = subprocess.run(
        ["git", "show", f"{parent}:{SELECTORS}"], cwd=REPO, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    if HEALTHY_LIST not in source:
        fail(f"{SELECTORS} no longer has {HEALTHY_LIST!r}: update the proof")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**ENV, "GIT_INDEX_FILE": str(Path(tmp) / "index")}

        def git(*args: str, stdin: str | None = None) -> str:
            return subprocess.run(
                ["git", *args], cwd=REPO, env=env, input=stdin, capture_output=True,
                text=True, check=True,
            ).stdout.strip()  # fmt: skip

        git("read-tree", parent)
        blob = git("hash-object", "-w", "--stdin", stdin=source.replace(HEALTHY_LIST, PLANTED_LIST))
        git("update-index", "--cacheinfo", f"100644,{blob},{SELECTORS}")
        tree = git("write-tree")
        return git(
            "-c", "user.name=ab-proof", "-c", "user.email=ab-proof@example.invalid",
            "commit-tree", tree, "-p", parent, "-m", "ab proof: plant an N+1 in the inventory list",
        )  # fmt: skip


def significant(out: str) -> dict[str, set[str]]:
    """Names significantly slower and faster (p50 or p95), from the runs `lab ab` made."""
    match = re.search(r"^compare again: lab compare (\S+) (\S+)$", out, re.M)
    if not match:
        fail("lab ab printed no 'compare again' line")
    assert match
    sides = [Side([load_sample(REPO / "runs" / i) for i in g.split(",")]) for g in match.groups()]
    found: dict[str, set[str]] = {"slower": set(), "faster": set()}
    for row in compare_sides(*sides):
        for _, est in row.estimates():
            if est.significant:
                found["slower" if est.ratio > 1 else "faster"].add(row.label)
    return found


def timing(out: str, label: str) -> None:
    for line in out.splitlines():
        if line.startswith(("built ", "image ")) or "interleaved runs each in" in line:
            FIGURES.append(f"{label}: {line.strip()}")


def main() -> int:
    for name, value in (("ENV", ENV_FILE), ("project", PROJECT), ("images", IMAGE_REPOSITORY),
                        ("run options", " ".join(RUN_ARGS) or "lab ab's defaults")):  # fmt: skip
        log(f"{name}: {value}")
    (REPO / ENV_FILE).unlink(missing_ok=True)  # a fresh settings file, as in a new clone
    (REPO / "build").mkdir(exist_ok=True)
    try:
        log("1/5 lab ab --compose before the lab is up: one line, exit 2")
        code, out, _ = lab_ab("HEAD", "HEAD", "--compose")
        lines = [line for line in out.splitlines() if line.strip()]
        if code != 2 or len(lines) != 1 or "make lab-up" not in lines[0]:
            fail(f"expected one line naming make lab-up and exit 2, got {code}: {out}")
        log(f"PASS {lines[0]}")

        log("2/5 make lab-up (own project, free ports)")
        started = time.monotonic()
        code, out = run(["make", "--no-print-directory", "lab-up"], tee=True)
        if code != 0:
            fail("make lab-up failed")
        FIGURES.append(f"lab-up: {time.monotonic() - started:.0f} s")
        sales = psql("SELECT count(*) FROM sales_sale")
        lab_image = app_image()
        log(f"lab data: {sales} sales; the lab's app image: {lab_image}")

        # The commit under test, fixed now: HEAD may move while the proof runs.
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        log(f"3/5 A/A: HEAD ({head[:12]}) against itself")
        code, out, seconds = lab_ab(head, head, "--compose", "--no-noise-floor",
                                    "--fail-on-regression", "10%")  # fmt: skip
        timing(out, "A/A")
        FIGURES.append(f"A/A wall time: {seconds:.0f} s")
        if code != 0:
            fail(f"A/A exit {code} (0 expected)")
        if out.count("\nbuilt ") + out.startswith("built ") > 1:
            fail("A/A built more than one image for one commit")
        flagged = significant(out)
        if flagged["slower"] or flagged["faster"]:
            fail(f"A/A flagged unchanged code: {flagged}")
        log("PASS A/A: nothing significantly slower or faster, gate passed")
        if psql("SELECT count(*) FROM sales_sale") != sales or app_image() != lab_image:
            fail("after A/A the lab's data or app image is not back")
        log(f"PASS the lab's data ({sales} sales) and app image are back")

        planted = planted_revision(head)
        log(f"4/5 A/B: HEAD ({head[:12]}) against {planted[:12]} (planted N+1)")
        code, out, seconds = lab_ab(head, planted, "--compose", "--no-noise-floor",
                                    "--fail-on-regression", "10%")  # fmt: skip
        timing(out, "A/B")
        FIGURES.append(f"A/B wall time: {seconds:.0f} s")
        if "exists: reused" not in out or out.count("building ") != 1:
            fail("A/B: HEAD's image was not reused, or more than the planted one was built")
        flagged = significant(out)
        log(f"A/B significant: {flagged}")
        if not flagged["slower"] or not flagged["slower"] <= TOUCHED or flagged["faster"]:
            fail(f"A/B: slower must be a non-empty part of {sorted(TOUCHED)}, nothing faster")
        if code != 1 or "REGRESSION beyond 10%" not in out:
            fail(f"A/B: the gate did not fail (exit {code})")
        log(f"PASS A/B: slower only on {sorted(flagged['slower'])}; gate failed (exit 1)")
        if psql("SELECT count(*) FROM sales_sale") != sales or app_image() != lab_image:
            fail("after A/B the lab's data or app image is not back")
        log("5/5 PASS the lab's data and app image are back")
    finally:
        if os.environ.get("AB_PROOF_KEEP") == "1":
            log(f"AB_PROOF_KEEP=1: project {PROJECT} and images {IMAGE_REPOSITORY}:* kept")
        else:
            log(f"cleaning up: project {PROJECT} (volumes too) and images {IMAGE_REPOSITORY}:*")
            ENV["FORCE"] = "1"  # lab-clean without its question: this project is ours
            run(["bash", "scripts/lab-stack.sh", "clean"], timeout=600)
            _, tags = run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                           IMAGE_REPOSITORY])  # fmt: skip
            for tag in tags.split():
                run(["docker", "rmi", tag])
        print("\n[ab-proof] figures:", file=sys.stderr)
        for figure in FIGURES:
            print(f"  {figure}", file=sys.stderr)
    log("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
