"""The chaos test: seeded random faults on a 3-node cluster, then a SIGKILLed driver and a resume at once
(tests/reliability/chaos.py). Each seed takes a minute or more on 2 busy cores, so CI runs one seed and the
20-seed figures come from scripts/bench_chaos.py (docs/reliability.md)."""

import os

import chaos
import pytest

# About 100 s a seed on 2 cores: `make test-long` runs it, `make test` leaves it out (CI time), and
# scripts/bench_chaos.py runs many seeds.
pytestmark = [pytest.mark.timeout(600), pytest.mark.long]

CI_SEEDS = [int(s) for s in os.environ.get("RAYBENCH_CHAOS_SEEDS", "1").split(",")]


@pytest.fixture(scope="module")
def cluster():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    c = chaos.start_cluster()
    yield c
    chaos.stop_cluster()


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_every_trial_ends_once_after_seeded_chaos(cluster, tmp_path, seed):
    res = chaos.chaos_run(seed, str(tmp_path))
    assert res.problems == [], res.row()
    assert "driver" in res.injected and len(res.injected) >= 4, res.row()
    assert res.lost == 0, res.row()
