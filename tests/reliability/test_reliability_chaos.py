"""The chaos test: seeded random faults on a 3-node cluster, then a SIGKILLed driver and a resume at once
(tests/reliability/chaos.py). `make test` runs seed 1 (about 45 s on 2 cores), `make test-long` seeds 2 to
20; the 20-seed figures come from scripts/bench_chaos.py (docs/reliability.md)."""

import os

import chaos
import pytest

pytestmark = pytest.mark.timeout(600)

CI_SEEDS = [int(s) for s in os.environ.get("RAYBENCH_CHAOS_SEEDS", "1").split(",")]
LONG_SEEDS = list(range(2, 21))


@pytest.fixture(scope="module")
def cluster():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    c = chaos.start_cluster()
    yield c
    chaos.stop_cluster()


def check_seed(tmp_path, seed: int) -> None:
    res = chaos.chaos_run(seed, str(tmp_path))
    assert res.problems == [], res.row()
    assert "driver" in res.injected and len(res.injected) >= 4, res.row()
    assert res.lost == 0, res.row()


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_every_trial_ends_once_after_seeded_chaos(cluster, tmp_path, seed):
    check_seed(tmp_path, seed)


@pytest.mark.long
@pytest.mark.parametrize("seed", LONG_SEEDS)
def test_every_trial_ends_once_after_seeded_chaos_more_seeds(cluster, tmp_path, seed):
    check_seed(tmp_path, seed)
