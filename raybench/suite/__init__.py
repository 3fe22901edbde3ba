"""Suites of experiments: one factor of the baseline varied over values and seeds (basht's R-* and S-*).

`load_suite(path, quick=)` validates a suite file and expands it into ExperimentConfigs; `run_suite` runs
every variant as its own run directory and writes suite.json, suite.md and plots (docs/suites.md).
"""

from raybench.suite._converge import Convergence, check, relative_gain
from raybench.suite._run import run_suite
from raybench.suite._spec import Suite, SuiteSpec, Variant, load_suite

__all__ = ["Convergence", "Suite", "SuiteSpec", "Variant", "check", "load_suite", "relative_gain", "run_suite"]
