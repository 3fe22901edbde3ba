"""The one fold of events into experiment state, without Ray: statuses, the best-trial rule, the effects
that feed the sampler and the pruner, and the attempt spans the plots draw."""

from raybench.core import Created, Ended, ExperimentState, Judge, Mode, TrialStatus, fold
from raybench.events import make_event


def ev(name, t, /, **f):
    return make_event(name, t=float(t), **f)


def start(t=0.0, mode="max"):
    return ev("experiment_start", t, run_id="r", name="n", config={"metric": {"name": "acc", "mode": mode}}, env={},
              requested_concurrency=1, effective_concurrency=1, resumed=False)


def trial(tid, values, t0, status="completed", worker=0):
    out = [ev("trial_created", t0, trial_id=tid, config={"x": tid}),
           ev("trial_started", t0, trial_id=tid, attempt=1, node_id="n", worker=worker, pid=1, resources={},
              from_step=0)]
    for i, v in enumerate(values, start=1):
        out.append(ev("report", t0 + i, trial_id=tid, step=i, metrics={"acc": v}, elapsed_s=float(i), energy_j=None,
                      progress=float(i)))
    out.append(ev("trial_completed", t0 + len(values), trial_id=tid, status=status, steps=len(values),
                  final_metric=values[-1], best_metric=max(values), duration_s=float(len(values)), peak_rss_mb=None))
    return out


def test_mode_owns_the_sign():
    assert Mode.of("max").better(2, 1) and Mode.of("min").better(1, 2) and not Mode.MAX.better(float("nan"), 1)
    assert Mode.MIN.best([3.0, None, 1.0, 2.0]) == 1.0 and Mode.MAX.sign == 1.0 and Mode.MIN.sign == -1.0


def test_best_is_the_best_completed_final_value_and_ties_go_to_the_first():
    s = fold([start(), *trial(0, [0.5, 0.7], 0), *trial(1, [0.9, 0.6], 10), *trial(2, [0.2, 0.99], 20, "pruned"),
              *trial(3, [0.4, 0.7], 30)])
    assert s.best().trial_id == 0 and s.best_value() == 0.7  # 3 ties 0.7 later; 2 was pruned
    only_pruned = fold([start(), *trial(0, [0.5, 0.6], 0, "pruned"), *trial(1, [0.8, 0.3], 10, "pruned")])
    assert only_pruned.best().trial_id == 1 and only_pruned.best_value() == 0.8
    minimise = fold([start(mode="min"), *trial(0, [0.5, 0.4], 0), *trial(1, [0.3, 0.2], 10)])
    assert minimise.best().trial_id == 1


def test_effects_feed_the_sampler_and_the_pruner_once():
    s = ExperimentState("acc", "max")
    effects = [s.apply(e) for e in [start(), *trial(0, [0.5, 0.7], 0)]]
    assert [type(x).__name__ for x in effects if x is not None] == ["Created", "Judge", "Judge", "Ended"]
    assert effects[1] == Created(0, {"x": 0}) and effects[3] == Judge(0, 1.0, 0.5)
    assert effects[-1] == Ended(0, TrialStatus.COMPLETED, 0.7)
    # A report without new progress is not judged again.
    again = ev("report", 9, trial_id=0, step=2, metrics={"acc": 0.1}, elapsed_s=2.0, energy_j=None, progress=2.0)
    assert s.apply(again) is None


def test_a_retry_goes_to_the_front_of_the_queue_and_spans_close_per_attempt():
    events = [start(), ev("trial_created", 0, trial_id=0, config={"x": 0}),
              ev("trial_started", 1, trial_id=0, attempt=1, node_id="a", worker=0, pid=1, resources={}, from_step=0),
              ev("trial_failed", 2, trial_id=0, attempt=1, error="boom", cause="actor_died", final=False)]
    s = fold(events)
    t = s.trials[0]
    assert t.status is TrialStatus.PENDING and list(s.queue) == [0] and s.by_worker == {}
    s.apply(ev("trial_started", 3, trial_id=0, attempt=2, node_id="b", worker=1, pid=2, resources={}, from_step=0))
    assert list(s.queue) == [] and s.on_worker(1) is t and t.attempts == 2
    s.apply(ev("trial_failed", 5, trial_id=0, attempt=2, error="again", cause="error", final=True))
    assert t.status is TrialStatus.FAILED and t.error == "again" and t.duration_s == 4.0
    assert [(sp.attempt, sp.t0, sp.t1, sp.outcome, sp.node_id) for sp in t.spans] == [
        (1, 1.0, 2.0, "failed", "a"), (2, 3.0, 5.0, "failed", "b")]


def test_budget_and_interrupt_stop_running_trials_and_a_resume_clears_them():
    s = fold([start(), ev("trial_created", 0, trial_id=0, config={}),
              ev("trial_started", 0, trial_id=0, attempt=1, node_id="a", worker=0, pid=1, resources={}, from_step=0),
              ev("budget_exhausted", 1, kind="time_s", limit=1.0, value=1.2)])
    assert s.stopping == "time_s" and s.trials[0].stop_requested
    s.apply(start(2.0))
    assert s.stopping is None and s.segments == 2 and s.start_t == 0.0
    s.apply(ev("warning", 3, code="interrupted", message="ctrl-c"))
    assert s.stopping == "interrupt"
    s.apply(ev("budget_exhausted", 4, kind="trials", limit=1, value=1))
    assert s.exhausted


def test_a_trial_whose_creation_was_lost_is_kept_for_the_table_but_feeds_nothing():
    s = ExperimentState("acc")
    s.apply(start())
    got = s.apply(ev("trial_started", 1, trial_id=4, attempt=1, node_id="a", worker=0, pid=1, resources={},
                     from_step=0))
    rep = s.apply(ev("report", 2, trial_id=4, step=1, metrics={"acc": 0.3}, elapsed_s=1.0, energy_j=None,
                     progress=1.0))
    assert got is None and rep is None and not s.trials[4].known and s.next_id() == 5
