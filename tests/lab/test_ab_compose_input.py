"""`lab ab --compose` without Docker runs: revisions, image tags and the cache decision,
the uncommitted-sources check (on a real git repository), and bad input (one line, exit 2,
nothing written). The Compose runs themselves are `make ab-compose-proof` (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.ab import resolve_revision
from lab.ab_compose import (
    DEFAULT_IMAGE_REPOSITORY,
    IMAGE_REPOSITORY_VARIABLE,
    check_committed,
    image_tag,
    sides_to_build,
)
from lab.errors import LabError
from tests.harness.environment import REPO_ROOT


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def _lab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "lab", *args],
        cwd=REPO_ROOT, env={**base, **(env or {})}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def test_revisions_resolve_to_full_commits_and_name_one_image_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    head = _git(REPO_ROOT, "rev-parse", "HEAD")
    assert resolve_revision("HEAD") == head
    assert resolve_revision(head[:10]) == head  # a short id, as people paste them
    monkeypatch.delenv(IMAGE_REPOSITORY_VARIABLE, raising=False)
    assert image_tag(head, "offline") == f"{DEFAULT_IMAGE_REPOSITORY}:offline-{head[:12]}"
    # The image set is part of the tag: the offline and registry builds differ.
    assert image_tag(head, "default") != image_tag(head, "offline")
    monkeypatch.setenv(IMAGE_REPOSITORY_VARIABLE, "jl-test/app")
    assert image_tag(head, "offline") == f"jl-test/app:offline-{head[:12]}"


def test_an_image_is_built_once_per_commit_and_reused_when_its_label_names_the_commit() -> None:
    a, b = "a" * 40, "b" * 40
    tags = {"A": "lab/app:offline-aaa", "B": "lab/app:offline-bbb"}
    images: dict[str, str] = {}  # tag -> the commit in its revision label

    def built_from(tag: str) -> str | None:
        return images.get(tag)

    assert sides_to_build({"A": a, "B": b}, tags, built_from) == ["A", "B"]
    # A/A: one commit, one image, one build.
    assert sides_to_build({"A": a, "B": a}, {"A": tags["A"], "B": tags["A"]}, built_from) == ["A"]
    images[tags["A"]] = a
    assert sides_to_build({"A": a, "B": b}, tags, built_from) == ["B"]
    images[tags["B"]] = b
    assert sides_to_build({"A": a, "B": b}, tags, built_from) == []
    # A tag that exists but was built from another commit (a reused tag) is rebuilt.
    images[tags["B"]] = a
    assert sides_to_build({"A": a, "B": b}, tags, built_from) == ["B"]


def test_uncommitted_image_sources_refuse_head_and_nothing_else(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    _git(tmp_path, "init", "-q", str(repo))
    (repo / "app" / "views.py").write_text("x = 1\n")
    (repo / "README.md").write_text("readme\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "one")
    head = _git(repo, "rev-parse", "HEAD")
    other = "f" * 40
    check_committed({"A": head, "B": head}, repo)  # clean: accepted
    (repo / "README.md").write_text("changed\n")  # outside the image: does not matter
    check_committed({"A": head, "B": head}, repo)
    (repo / "app" / "views.py").write_text("x = 2\n")
    with pytest.raises(LabError, match=r"uncommitted changes \(app/views.py\)"):
        check_committed({"A": other, "B": head}, repo)
    check_committed({"A": other, "B": other}, repo)  # HEAD is not compared: its edits neither
    _git(repo, "checkout", "--", "app/views.py")
    (repo / "app" / "new.py").write_text("y = 1\n")  # a new file the image would miss
    with pytest.raises(LabError, match=r"app/new.py"):
        check_committed({"A": head, "B": head}, repo)


def test_unknown_revision_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = _lab("--runs-dir", str(runs), "ab", "HEAD", "no-such-rev-h18", "--compose")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "unknown git revision 'no-such-rev-h18'" in result.stderr
    assert not runs.exists()


def test_missing_docker_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = shutil.which("git")
    assert git
    (bin_dir / "git").symlink_to(git)  # git only: no docker on this PATH
    runs = REPO_ROOT / "runs"
    before = _snapshot(runs)
    result = _lab("ab", "HEAD", "HEAD", "--compose", env={"PATH": str(bin_dir)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "docker not found" in result.stderr
    assert _snapshot(runs) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repeats", "1"], "--repeats must be at least 2"),
        (["--fail-on-regression", "lots"], "lots"),
        (["--", "--profile", "load", "--target", "http://127.0.0.1:1"], "leave out --compose"),
        (["--", "--profile", "nope"], "unknown profile 'nope'"),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    runs = tmp_path / "runs"
    result = _lab("--runs-dir", str(runs), "ab", "HEAD", "HEAD", "--compose", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr
    assert not runs.exists()
