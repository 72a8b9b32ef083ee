"""Errors that end a command with one clear line and a chosen exit code."""

from __future__ import annotations

# Exit codes, shared by every command so CI can tell outcomes apart (defined in lab.contract).
from lab.contract import (  # noqa: F401 - re-exported for the commands
    EXIT_BAD_INPUT,
    EXIT_BREACH,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNTRUSTWORTHY,
)


class LabError(Exception):
    """A user-facing failure: `message` is printed as one line on stderr."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
