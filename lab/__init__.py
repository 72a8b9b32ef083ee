"""The lab CLI: run a load profile, report on it, compare runs, judge a soak."""

from __future__ import annotations
