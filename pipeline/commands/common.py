"""What the subcommands share: the user-error type of flag combinations and path checks."""
from __future__ import annotations

import os
import sys

from models.errors import WaveGANError


class CLIError(WaveGANError):
    """A bad combination of flags: printed as one line, exit code 2."""


def existing_dir(path: str, what: str) -> str:
    if not os.path.isdir(path):
        raise CLIError(f"{what} not found: {path}")
    return path


def this_command() -> str:
    """How to run `wavegan` again from here (the venv's script when it is not on PATH)."""
    import shutil
    if shutil.which("wavegan") == os.path.abspath(sys.argv[0]) or not os.path.isfile(sys.argv[0]):
        return "wavegan"
    return os.path.relpath(sys.argv[0])
