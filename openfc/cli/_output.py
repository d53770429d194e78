"""Rich consoles for the CLI: wide enough not to fold tables when output is not a terminal."""

from __future__ import annotations

import sys

from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    interactive = stream.isatty()
    return Console(file=stream, stderr=stderr, highlight=False, width=None if interactive else 160)
