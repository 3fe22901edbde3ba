"""Replay without Ray: a curves table under every pruner and any number of simulated workers ends, and
every trial ends exactly once. Promotion ASHA makes free workers wait while paused trials may still be
promoted; several waiting workers at once must not keep simulated time from moving on."""

import collections
import csv
import random

import pytest

from raybench.core.replay import replay, replay_config, source_from_csv
from raybench.events import EventLog, read_events

pytestmark = pytest.mark.timeout(60)

PROMOTION = {"type": "asha", "variant": "promotion", "grace_period": 1, "reduction_factor": 3, "max_t": 9}


def curves_table(path, seed: int, n: int = 27, epochs: int = 9) -> str:
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["param.x", "epoch", "value", "seconds", "joules"])
        for i in range(n):
            top, rate = rng.uniform(0.5, 1.0), rng.uniform(0.1, 1.0)
            for e in range(1, epochs + 1):
                w.writerow([i, e, top * (1 - (1 - rate) ** e) + rng.gauss(0, 0.01), rng.uniform(0.5, 2.0),
                            rng.uniform(1, 5)])
    return str(path)


def replayed(tmp_path, seed: int, workers: int, pruner: dict) -> list[dict]:
    source = source_from_csv(curves_table(tmp_path / f"c{seed}.csv", seed))
    config = replay_config(source, pruner=pruner, workers=workers)
    path = tmp_path / f"events-{seed}-{workers}.msgpack"
    log = EventLog.open(str(path), buffered=True)
    try:
        replay(source, config, log, workers=workers, sampler_changed=False)
    finally:
        log.close()
    return read_events(str(path)).events


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8, 30])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_promotion_asha_replay_ends_with_every_trial_ended_once(tmp_path, seed, workers):
    events = replayed(tmp_path, seed, workers, {**PROMOTION, "order": ["value", "value_per_joule"][seed % 2]})
    ends = collections.Counter(e["trial_id"] for e in events if e["event"] == "trial_completed")
    assert sorted(ends) == list(range(27)) and set(ends.values()) == {1}
    assert events[-1]["event"] == "experiment_end"
    # A promoted trial continues after the rung it paused at: no (trial, epoch) is reported twice.
    reported = collections.Counter((e["trial_id"], e["step"]) for e in events if e["event"] == "report")
    assert set(reported.values()) == {1}
    promoted = [e for e in events if e["event"] == "trial_promoted"]
    assert promoted, "a 27-trial grid at eta 3 promotes someone"
    # More workers never make a replay take longer in simulated time than one worker does.
    if workers > 1:
        one = replayed(tmp_path, seed, 1, {**PROMOTION, "order": ["value", "value_per_joule"][seed % 2]})
        assert events[-1]["t"] <= one[-1]["t"] + 1e-9


@pytest.mark.parametrize("pruner", [{"type": "none"}, {"type": "median", "warmup": 1, "min_peers": 3},
                                    {"type": "hyperband", "min_resource": 1, "max_resource": 9,
                                     "reduction_factor": 3},
                                    {"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": 9}])
def test_other_pruners_replay_on_many_workers(tmp_path, pruner):
    events = replayed(tmp_path, 5, 8, pruner)
    ends = collections.Counter(e["trial_id"] for e in events if e["event"] == "trial_completed")
    assert sorted(ends) == list(range(27)) and set(ends.values()) == {1}
