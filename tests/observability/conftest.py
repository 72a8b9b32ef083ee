"""Fixtures for the observability tests: a running trace archive."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.observability.archive_process import ArchiveProcess, start_archive


@pytest.fixture
def archive_factory(tmp_path: Path) -> Iterator[Callable[..., ArchiveProcess]]:
    """`archive_factory(*flags)` starts a trace archive writing to tmp_path/runs."""
    started: list[ArchiveProcess] = []

    def start(*extra_args: str) -> ArchiveProcess:
        archive = start_archive(
            tmp_path / "runs", tmp_path / f"archive-{len(started)}.log", *extra_args
        )
        started.append(archive)
        return archive

    yield start
    for archive in started:
        if archive.process.poll() is None:
            archive.stop(signal.SIGKILL)


@pytest.fixture
def archive(archive_factory: Callable[..., ArchiveProcess]) -> ArchiveProcess:
    return archive_factory()
