"""The one base of every error a user can fix, and how such errors are shown.

The CLI prints a WaveGANError as one line and exits 2; anything else is a bug and
shows its traceback. Every layer (models, components, pipeline, serving) raises
subclasses of it, so the CLI needs to know no other error type.
"""
from __future__ import annotations


class WaveGANError(Exception):
    """A problem the user can fix (bad input, flag, config or path); the message says which."""


def first_line(error: BaseException, last: bool = False) -> str:
    """One line for a report: the first (or last, for chained tracebacks) non-empty line, else the type."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return (lines[-1] if last else lines[0]).strip() if lines else type(error).__name__


class PathError(WaveGANError, FileNotFoundError):
    """A path the user gave does not hold what the command needs (no run, no checkpoint, no judge)."""
