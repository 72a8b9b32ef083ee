"""Fixtures of the security suite: the observability suite's trace archive process."""

from __future__ import annotations

from tests.observability.conftest import archive, archive_factory

__all__ = ["archive", "archive_factory"]
