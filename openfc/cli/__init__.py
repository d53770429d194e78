"""The ``openfc`` command line."""

from openfc.cli.main import main

__all__ = ["main"]
