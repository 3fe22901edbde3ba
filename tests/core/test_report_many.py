"""SchedulerCore.report_many: a trial's reports in one call decide exactly what report() decides one by one,
drop what follows a stop, and hand out the next trial in the same call when the trial ends."""

import dataclasses

from raybench.config import ExperimentConfig
from raybench.core.records import Finished
from raybench.core.scheduler import ASSIGNMENT_WIRE, SchedulerCore
from raybench.search.decision import Action
from raybench.search.synthetic import SyntheticObjective


class ListLog:
    def __init__(self):
        self.events = []

    def append(self, event, *, sync=None):
        self.events.append(dict(event))

    def close(self):
        pass


def config(trials=60):
    return ExperimentConfig.model_validate({
        "name": "b", "seed": 3, "task": {"dataset": "synthetic", "epochs": 9},
        "search_space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0}},
        "sampler": {"type": "random"},
        "pruner": {"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": 9},
        "workers": {"count": 3, "cpus": 1, "memory_mb": 256},
        "budget": {"max_trials": trials}, "energy": {"backend": "none", "gpu": "none"}})


def clock():
    t = [0.0]

    def tick():
        t[0] += 1.0
        return t[0]
    return tick


def curve(cfg):
    obj = SyntheticObjective(cfg.space(), seed=cfg.seed)
    return lambda a, step: {"val_accuracy": obj.curve(a.config, step, trial=a.seed)}


def drive(batched: bool):
    """Three workers served round-robin; each sends its reports one by one, or in pairs with the hand-off."""
    cfg = config()
    log = ListLog()
    core = SchedulerCore(cfg, log, clock=clock())
    core.start(run_id="r", env={}, requested=3, effective=3)
    metric = curve(cfg)
    current = {w: core.next_trial(w, "n", w) for w in range(3)}
    step = dict.fromkeys(range(3), 0)
    while any(a is not None for a in current.values()):
        for w, a in current.items():
            if a is None:
                continue
            if batched:
                s = step[w]
                pair = [(k, metric(a, k), float(k), None) for k in range(s + 1, min(s + 2, 9) + 1)]
                action, ended, nxt = core.report_many(a.trial_id, pair, None, w, "n", w)
                step[w] = pair[-1][0]
                if ended:  # the worker rebuilds the assignment from the fields that differ
                    current[w] = None if nxt is None else dataclasses.replace(a, **dict(zip(ASSIGNMENT_WIRE, nxt)))
                    step[w] = 0
            else:
                step[w] += 1
                action = core.report(a.trial_id, step[w], metric(a, step[w]), float(step[w]))
                if action is Action.STOP or step[w] == 9:
                    status = "completed" if step[w] == 9 else "pruned"
                    current[w] = core.next_trial(w, "n", w, Finished(a.trial_id, status))
                    step[w] = 0
    return core, log.events


def test_pairs_decide_as_single_reports_and_each_trial_ends_once():
    core, events = drive(batched=True)
    ends = [e["trial_id"] for e in events if e["event"] == "trial_completed"]
    assert sorted(ends) == list(range(60))
    # Every logged report got its decision right after it, and no report follows a stop of the same trial.
    stopped = set()
    for a, b in zip(events, events[1:]):
        if a["event"] == "report":
            assert b["event"] == "decision" and b["trial_id"] == a["trial_id"] and b["step"] == a["step"]
            assert a["trial_id"] not in stopped
        if a["event"] == "decision" and a["action"] == "stop":
            stopped.add(a["trial_id"])
    # Replaying the logged reports one by one through a fresh core gives the same decisions.
    cfg = config()
    ref = SchedulerCore(cfg, ListLog(), clock=clock())
    for e in events:
        if e["event"] in ("experiment_start", "trial_created", "trial_started", "trial_completed"):
            ref.record(e)
        elif e["event"] == "report":
            action = ref.report(e["trial_id"], e["step"], e["metrics"], e["elapsed_s"])
            assert action.label == next(d["action"] for d in events
                                        if d["event"] == "decision" and d["trial_id"] == e["trial_id"]
                                        and d["step"] == e["step"])
    pruned = [e for e in events if e["event"] == "trial_completed" and e["status"] == "pruned"]
    assert pruned and all(e["steps"] < 9 for e in pruned)


def test_a_report_after_a_stop_is_dropped_and_the_next_trial_comes_back():
    cfg = config(trials=30)
    log = ListLog()
    core = SchedulerCore(cfg, log, clock=clock())
    core.start(run_id="r", env={}, requested=1, effective=1)
    a = core.next_trial(0, "n", 0)
    # A first trial at rung 1 always continues (it has no peers); make a strong one, then weaker ones.
    core.report_many(a.trial_id, [(k, {"val_accuracy": 0.9}, float(k), None) for k in range(1, 10)], None, 0, "n", 0)
    for _ in range(4):
        a = core.next_trial(0, "n", 0)
        action, ended, nxt = core.report_many(a.trial_id, [(1, {"val_accuracy": 0.1}, 1.0, None),
                                                           (2, {"val_accuracy": 0.2}, 2.0, None)], None, 0, "n", 0)
        if action == Action.STOP:
            break
    assert action == Action.STOP and ended and nxt is not None and nxt[0] != a.trial_id
    mine = [e for e in log.events if e.get("trial_id") == a.trial_id]
    assert [e["event"] for e in mine] == ["trial_created", "trial_started", "report", "decision", "trial_completed"]
    assert mine[-1]["status"] == "pruned" and mine[-1]["steps"] == 1
    # Without a worker, nothing is handed out and the trial keeps running until told.
    assert dict(zip(ASSIGNMENT_WIRE, nxt))["config"] == core.state.trials[nxt[0]].config
    action, ended, none = core.report_many(nxt[0], [(1, {"val_accuracy": 0.95}, 1.0, None)])
    assert action == Action.CONTINUE and not ended and none is None
    assert core.state.trials[nxt[0]].status.value == "running"
