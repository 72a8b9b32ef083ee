"""Errors that end a command with one clear line and a chosen exit code."""

from __future__ import annotations

# Exit codes, shared by every command so CI can tell outcomes apart.
EXIT_OK = 0
EXIT_BREACH = 1  # a target was breached, a significant regression, a leak
EXIT_BAD_INPUT = 2  # unknown run, corrupted input, refused comparison, forbidden target
EXIT_UNTRUSTWORTHY = 3  # the run is partial or the load generator was unhealthy
EXIT_INTERRUPTED = 130  # Ctrl-C: results kept, report written


class LabError(Exception):
    """A user-facing failure: `message` is printed as one line on stderr."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
