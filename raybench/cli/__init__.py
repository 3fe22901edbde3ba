"""The `raybench` command line."""

from raybench.cli._main import main

__all__ = ["main"]
