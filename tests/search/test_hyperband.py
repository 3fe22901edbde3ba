"""Hyperband: its rungs, brackets and rule, and a cross-check against Optuna 5's HyperbandPruner.

The cross-check plays random interleavings of reports through both. The one deliberate difference is how a
trial's bracket is drawn (Optuna: crc32 of the study name and trial number; ours: a seeded hash of the trial
id, with the same weights), so each Optuna trial is paired with one of our trial ids that falls in the same
bracket; given the brackets, every decision and every value recorded at a rung must be equal.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from raybench.search.pruners import HyperbandPruner
from raybench.search.pruners._hyperband import bracket_budgets, halving_cutoff

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_brackets_start_at_later_rungs() -> None:
    p = HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3)
    assert p.n_brackets == 4
    assert [tuple(p.rungs(b)) for b in range(4)] == [(1, 3, 9, 27), (3, 9, 27), (9, 27), (27,)]
    assert p.budgets == (27, 12, 6, 4) == tuple(bracket_budgets(4, 3))


def test_bracket_draw_is_seeded_and_weighted_by_optunas_budgets() -> None:
    p = HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3, seed=2)
    counts = np.bincount([p.bracket_of(i) for i in range(40_000)], minlength=4) / 40_000
    assert counts == pytest.approx(np.array([27, 12, 6, 4]) / 49, abs=0.01)
    again = HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3, seed=2)
    other = HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3, seed=3)
    assert [again.bracket_of(i) for i in range(300)] == [p.bracket_of(i) for i in range(300)]
    assert sum(other.bracket_of(i) != p.bracket_of(i) for i in range(300)) > 60


@pytest.mark.parametrize(("others", "v", "eta", "expected"), [
    ([], 0.5, 3, 0.5),                    # alone: it is the best
    ([0.9], 0.5, 3, 0.9),                 # n=2 < eta: only the best goes on
    ([0.1, 0.9], 0.5, 3, 0.9),            # n=3: the top 1
    ([0.1, 0.2, 0.3, 0.9, 1.0], 0.5, 3, 0.9),   # n=6: the top 2
    ([0.1, 0.2, 0.3, 0.4, 0.6], 0.5, 2, 0.4),   # n=6: the top 3 are 0.6, 0.5, 0.4
    ([0.5, 0.5], 0.5, 2, 0.5),            # ties go on
])
def test_halving_cutoff_is_the_kth_best_with_the_trial_itself(others: list, v: float, eta: float,
                                                              expected: float) -> None:
    assert halving_cutoff(others, v, eta) == expected
    n = len(others) + 1
    assert expected == sorted([*others, v], reverse=True)[max(n // eta, 1) - 1]


def test_trials_are_compared_only_within_their_bracket() -> None:
    p = HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    first = [i for i in range(200) if p.bracket_of(i) == 0][:4]
    second = [i for i in range(200) if p.bracket_of(i) == 1][:2]
    p.report(second[0], 1, 0.99)  # bracket 1 has no rung at epoch 1
    for t, v in zip(first, (0.9, 0.8, 0.7)):
        d = p.report(t, 1, v)
    assert d.stop and d.reason.cutoff == 0.9 and d.reason.n_peers == 2
    assert d.reason.detail == "stopped at rung 1 (epoch 1) of bracket 0: 0.7 < cutoff 0.9 from 2 peers"
    p.report(second[0], 3, 0.1)
    d = p.report(second[1], 3, 0.05)  # compared with bracket 1's 0.1 only
    assert d.stop and d.reason.n_peers == 1 and d.reason.rung == 3
    assert p.rungs(1)[3] == {second[0]: 0.1, second[1]: 0.05} and p.rungs(0)[3] == {}


def test_between_rungs_and_past_the_last() -> None:
    p = HyperbandPruner(min_resource=1, max_resource=4, reduction_factor=2, seed=0)
    t = next(i for i in range(100) if p.bracket_of(i) == 0)
    assert p.report(t, 1, 0.5).reason.detail.endswith("first trial to reach it")
    assert p.report(t, 2, 0.5).reason.rung == 2
    assert p.report(t, 3, 0.5).reason.detail == "continued at epoch 3: next rung at epoch 4"
    p.report(t, 4, 0.5)
    assert p.report(t, 5, 0.5).reason.detail == "continued at epoch 5: past the last rung (epoch 4)"


def test_non_finite_values_stop_at_once_and_are_not_recorded() -> None:
    # Optuna prunes NaN only once it reaches a rung, and ranks infinities; we stop a diverged trial at once.
    p = HyperbandPruner(min_resource=2, max_resource=8, reduction_factor=2)
    d = p.report(0, 1, math.nan)
    assert d.stop and d.reason.detail == "stopped at epoch 1: value nan is not finite"
    assert p.report(1, 2, -math.inf).stop
    assert all(not rec for b in range(p.n_brackets) for rec in p.rungs(b).values())


@pytest.mark.parametrize(("options", "match"), [
    ({"min_resource": 0}, "min_resource must be > 0 and finite, got 0.0"),
    ({"reduction_factor": 1}, "reduction_factor must be > 1 and finite, got 1.0"),
    ({"min_resource": 5, "max_resource": 4}, "max_resource must be finite and >= min_resource 5, got 4.0"),
    ({"seed": -2}, "seed must be an int >= 0, got -2"),
])
def test_rejects_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HyperbandPruner(**options)


# ---- cross-check against Optuna ---------------------------------------------------------------------------

_PARAMS = [(1, 27, 3), (1, 9, 3), (1, 10, 3), (1, 16, 2), (2, 18, 3), (1, 8, 2), (1, 16, 4), (3, 12, 2)]


def _value(rng: random.Random) -> float:
    return rng.choice((0.0, 0.25, 0.5, 0.75, 1.0)) if rng.random() < 0.5 else rng.uniform(-1.0, 1.0)


def _compare_with_optuna(seq: int, rng: random.Random) -> tuple[int, int]:
    min_r, max_r, eta = rng.choice(_PARAMS)
    mode = rng.choice(("max", "min"))
    theirs = optuna.pruners.HyperbandPruner(min_resource=min_r, max_resource=max_r, reduction_factor=eta)
    study = optuna.create_study(study_name=f"seq{seq}", pruner=theirs,
                                direction="maximize" if mode == "max" else "minimize")
    ours = HyperbandPruner(mode=mode, min_resource=min_r, max_resource=max_r, reduction_factor=eta, seed=seq)
    n = rng.randint(1, 10)
    trials = [study.ask() for _ in range(n)]
    theirs._try_initialization(study)
    assert ours.n_brackets == theirs._n_brackets and list(ours.budgets) == theirs._trial_allocation_budgets
    # Pair each Optuna trial with an id of ours in the same bracket: the one documented difference.
    pool: dict[int, list[int]] = {}
    for i in range(50 * n * ours.n_brackets):
        pool.setdefault(ours.bracket_of(i), []).append(i)
    ids = [pool[theirs._get_bracket_id(study, t)].pop(0) for t in trials]
    lengths = [rng.randint(1, max_r) for _ in range(n)]
    order = [i for i, length in enumerate(lengths) for _ in range(length)]
    rng.shuffle(order)
    reported, done = [0] * n, [False] * n
    compared = stops = 0
    for i in order:
        if done[i]:
            continue
        reported[i] = step = reported[i] + 1
        v = _value(rng)
        trials[i].report(v, step)
        mine = ours.report(ids[i], step, v)
        assert mine.stop == trials[i].should_prune(), (seq, i, step, mine.reason.detail)
        compared += 1
        stops += mine.stop
        if mine.stop:
            study.tell(trials[i], state=TrialState.PRUNED)
        elif step == lengths[i]:
            study.tell(trials[i], v)
            ours.complete(ids[i])
        done[i] = mine.stop or step == lengths[i]
    # The values recorded at each rung agree too (Optuna keeps them as completed_rung_<k> per trial).
    for i, t in enumerate(study.get_trials(deepcopy=False)):
        b = ours.bracket_of(ids[i])
        mine_at = [rec[ids[i]] for rec in ours.rungs(b).values() if ids[i] in rec]
        assert mine_at == [t.system_attrs[f"completed_rung_{k}"] for k in range(len(mine_at))], (seq, i)
        assert f"completed_rung_{len(mine_at)}" not in t.system_attrs
    return compared, stops


def test_hyperband_matches_optuna_on_250_random_sequences() -> None:
    rng = random.Random(20261202)
    compared = stops = 0
    for seq in range(250):
        c, s = _compare_with_optuna(seq, rng)
        compared += c
        stops += s
    assert compared > 5000 and 300 < stops < compared - 300
