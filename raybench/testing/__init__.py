"""Workloads that misbehave on purpose, for fault-injection tests and demonstrations.

They plug in like any custom workload (`task.workload: raybench.testing:flaky`). Their behaviour is
driven by the trial's hyperparameters and `task.options`, so a test can say which trials fail and how.

A fake RAPL device at the sysfs level (`python -m raybench.testing.fake_rapl ROOT`) keeps a powercap
tree's counters moving at known watts, for end-to-end energy tests.
"""

from raybench.testing._workloads import Flaky, flaky, memory_hog, sleepy

__all__ = ["Flaky", "flaky", "memory_hog", "sleepy"]
