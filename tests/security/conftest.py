"""Fixtures of the security suite, shared with the suites that already start these parts."""

from __future__ import annotations

from tests.locust.conftest import live_apps, runs_dir, shops
from tests.observability.conftest import archive, archive_factory

__all__ = ["archive", "archive_factory", "live_apps", "runs_dir", "shops"]
