"""Reports: the terminal summary, side-by-side comparison, plots and the HTML report."""

from raybench.report._terminal import compare_runs, print_summary

__all__ = ["compare_runs", "print_summary"]
