"""Reports: the terminal summary, side-by-side comparison, plots and the HTML report."""

from typing import Any

from raybench.report._terminal import compare_runs, print_summary

__all__ = ["compare_runs", "print_summary", "write_plots", "write_report"]

# The plots pull in matplotlib (about half a second); the terminal views should not pay for it.
_LAZY = {"write_report": "raybench.report.html", "write_plots": "raybench.report.plots"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raybench.report' has no attribute {name!r}")
