"""Several objectives, energy among them: values are logged once the trial's energy is final, feed the
sampler as tuples, and a resume reads them back from the log (no Ray)."""

import math

import pytest

from raybench.config import ExperimentConfig
from raybench.core.objectives import measured_values
from raybench.core.records import Finished
from raybench.core.scheduler import SchedulerCore
from raybench.core.state import fold


class Sink(list):
    def append(self, event, *, sync=None):  # noqa: D102  (the EventLog interface)
        super().append(dict(event))

    def close(self):
        pass


class Clock:
    t = 1000.0

    def __call__(self):
        return self.t


def config(**over):
    return ExperimentConfig.model_validate({
        "name": "mo", "task": {"dataset": "synthetic", "epochs": 2},
        "metric": [{"name": "val_accuracy", "mode": "max"}, {"name": "energy_j", "mode": "min"}],
        "search_space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0}},
        "sampler": {"type": "tpe", "n_startup_trials": 2}, "budget": {"max_trials": 4},
        "workers": {"count": 1, "cpus": 1, "memory_mb": 512}, "energy": {"backend": "estimate"}, **over})


def sample(t0, t1, tid, cpu_j):
    return {"event": "energy_sample", "t": t1, "node_id": "n", "t0": t0, "t1": t1,
            "energy_j": {"cpu": cpu_j, "dram": 0.0, "gpu": 0.0}, "provenance": {"cpu": "estimated"},
            "node_cpu_s": 1.0, "trial_cpu_s": {tid: 1.0} if tid is not None else {}, "trial_gpu_j": {},
            "reserved": {}, "node_resources": {}}


def run_trial(core, clock, finished=None, cpu_j=10.0):
    a = core.next_trial(0, "n", 1, finished)
    if a is None:
        return None, None
    for step in (1, 2):
        clock.t += 1
        core.energy([sample(clock.t - 1, clock.t, a.trial_id, cpu_j)])
        core.report(a.trial_id, step, {"val_accuracy": a.config["x"] * step / 2}, float(step))
    return a, Finished(a.trial_id, "completed")


def test_a_metric_list_judges_the_reported_metric_and_keeps_the_objectives():
    cfg = config()
    assert cfg.metric.name == "val_accuracy" and [o.name for o in cfg.objective_specs()] == ["val_accuracy", "energy_j"]
    with pytest.raises(ValueError, match="needs energy measured"):
        config(energy={"backend": "none", "gpu": "none"})
    with pytest.raises(ValueError, match="pruner.objective"):
        config(pruner={"type": "median", "objective": "nope"})


def test_objective_values_are_logged_when_energy_is_final_and_feed_the_sampler_as_tuples():
    sink, clock = Sink(), Clock()
    core = SchedulerCore(config(), sink, clock=clock)
    core.start(run_id="r", env={}, requested=1, effective=1)
    a, fin = run_trial(core, clock, cpu_j=10.0)
    core.next_trial(0, "n", 1, fin)  # a ends: its energy is not final until a sample reaches past its end
    kinds = [e["event"] for e in sink]
    assert kinds[-1] == "trial_started" and "trial_objectives" not in kinds
    clock.t += 1
    core.energy([sample(clock.t - 1, clock.t, a.trial_id + 1, 30.0)])  # reaches past a's end
    objs = [e for e in sink if e["event"] == "trial_objectives"]
    assert [e["trial_id"] for e in objs] == [a.trial_id] and sink[-1]["event"] == "trial_objectives"
    assert objs[0]["values"]["energy_j"] == pytest.approx(20.0)  # two 10 J intervals, no baseline
    assert objs[0]["values"]["val_accuracy"] == pytest.approx(a.config["x"])
    fin = Finished(a.trial_id + 1, "completed")
    core.report(a.trial_id + 1, 1, {"val_accuracy": 0.1}, 1.0)
    core.report(a.trial_id + 1, 2, {"val_accuracy": 0.2}, 2.0)
    while fin is not None:
        _, fin = run_trial(core, clock, fin)
    core.end("completed")
    state = fold(sink)
    values = {t: s.objectives for t, s in state.trials.items()}
    assert all(v is not None and math.isfinite(v["energy_j"]) for v in values.values())
    # A resume folds the logged values back: the sampler sees the same tuples, nothing is logged again.
    again = SchedulerCore(config(), Sink(), clock=clock, prior=sink)
    assert not again._awaiting


def test_measured_values_are_the_ledgers_joules_and_the_configs_prices():
    v = measured_values({"cpu_j": 3.6e6, "dram_j": 0.0, "gpu_j": 0.0, "idle_reserved_j": 3.6e6}, duration_s=3600.0,
                        resources={"cpus": 2, "memory_mb": 1024}, prices={"cpu_hour": 1.0, "gb_hour": 0.5},
                        carbon={"g_per_kwh": 100.0, "pue": 1.5})
    assert v["energy_j"] == 3.6e6 and v["energy_with_idle_j"] == 7.2e6 and v["time_s"] == 3600.0
    assert v["cost"] == pytest.approx(2 * 1.0 + 1 * 0.5)
    assert v["co2e_g"] == pytest.approx(2 * 1.5 * 100.0)
