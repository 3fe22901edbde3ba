"""Promotion ASHA (asha with variant: promotion): pauses at rungs, promotions on free workers, both orders."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raybench.search.decision import Action
from raybench.search.pruners import PromotionASHAPruner
from raybench.search.pruners._asha_promotion import expected_improvement


def _start(p: PromotionASHAPruner, trial: int, values: list[float], start: int = 1) -> list:
    """Reports epochs from `start` until the trial pauses, stops or runs out of values."""
    out = []
    for epoch in range(start, len(values) + 1):
        out.append(p.report(trial, epoch, values[epoch - 1]))
        if out[-1].action is not Action.CONTINUE:
            break
    return out


def test_trials_pause_at_rungs_and_the_top_third_is_promoted() -> None:
    p = PromotionASHAPruner(grace_period=1, reduction_factor=3, max_t=9)
    d = p.report(0, 1, 0.5)
    assert d.action is Action.PAUSE and d.reason.rung == 1 and d.reason.cutoff is None
    assert d.reason.detail == "paused at rung 1 (epoch 1): 0.5, rank 1 of 1; the top 0 can be promoted"
    assert p.next_promotion() is None  # one value at the rung: nobody is in the top third yet
    p.report(1, 1, 0.9)
    assert p.next_promotion() is None
    d = p.report(2, 1, 0.7)
    assert d.pause and d.reason.cutoff == 0.9 and d.reason.n_peers == 2
    promotion = p.next_promotion()
    assert promotion is not None and promotion.trial_id == 1 and promotion.rung == 1
    trial, rung, reason = promotion
    assert reason.detail == "promoted from rung 1 (epoch 1) to rung 2 (epoch 3): 0.9 in the top 1 of 3"
    assert reason.value == 0.9 and reason.cutoff == 0.9 and reason.n_peers == 2
    assert p.next_promotion() is None and p.paused() == {0: 1, 2: 1}


def test_a_promoted_trial_resumes_after_its_checkpoint_and_never_reruns_an_epoch() -> None:
    p = PromotionASHAPruner(grace_period=1, reduction_factor=2, max_t=4)
    p.report(0, 1, 0.8)
    with pytest.raises(ValueError, match=r"trial 0 is paused at rung 1 \(epoch 1\); it reports again only once"):
        p.report(0, 2, 0.8)
    p.report(1, 1, 0.4)
    assert p.next_promotion().trial_id == 0
    with pytest.raises(ValueError, match="progress must increase per trial, got 1 after 1 for trial 0"):
        p.report(0, 1, 0.8)  # the epoch of the checkpoint is not run again
    assert p.report(0, 2, 0.85).pause  # rung 2 at epoch 2
    p.report(2, 1, 0.9)
    p.report(3, 1, 0.95)
    promoted = [p.next_promotion() for _ in range(3)]
    # Rung 1 holds 0.8 (promoted), 0.4, 0.9, 0.95: its top 2 are 0.95 and 0.9; rung 2 holds one value.
    assert [x.trial_id for x in promoted[:2]] == [3, 2] and promoted[2] is None
    assert p.report(3, 2, 0.97).pause
    assert p.next_promotion().trial_id == 3  # rung 2 now holds 0.85, 0.97: the top 1 goes on, highest rung first
    d = p.report(3, 4, 0.99)  # the last rung (epoch 4): it runs to its end
    assert d.action is Action.CONTINUE and d.reason.detail == "continued at rung 3 (epoch 4): the last rung; it " \
                                                               "runs to its end"
    assert p.report(3, 5, 0.99).reason.detail == "continued at epoch 5: past the last rung (epoch 4)"
    p.complete(3)


def test_order_value_takes_the_highest_rung_first() -> None:
    p = PromotionASHAPruner(grace_period=1, reduction_factor=2, max_t=8)
    for t, v in enumerate((0.9, 0.1, 0.8, 0.2)):
        p.report(t, 1, v)
    assert p.next_promotion().trial_id == 0
    p.report(0, 2, 0.3)
    assert p.next_promotion().trial_id == 2  # rung 2 has one value: nobody there yet
    p.report(2, 2, 0.6)
    # Rung 2: 0.3 (trial 0), 0.6 (trial 2): trial 2 is its top 1, and goes before anyone at rung 1.
    for t, v in ((4, 0.95), (5, 0.05)):
        p.report(t, 1, v)
    assert p.next_promotion().trial_id == 2
    assert p.next_promotion().trial_id == 4


def test_value_per_joule_prefers_the_cheaper_of_two_equal_candidates() -> None:
    p = PromotionASHAPruner(grace_period=1, reduction_factor=2, max_t=3, order="value_per_joule")
    for t, v in enumerate((0.7, 0.7, 0.1, 0.1)):
        p.report(t, 1, v)
    promotion = p.next_promotion(joules={0: 50.0, 1: 20.0, 2: 5.0, 3: 5.0})
    assert promotion.trial_id == 1
    reason = promotion.reason
    ei = expected_improvement({0: 0.7, 1: 0.7, 2: 0.1, 3: 0.1}, {}, 0.7)
    # It will run from epoch 1 to max_t 3 (the next rung, 2, is the last): 2 more epochs at 20 J each.
    assert reason.score == pytest.approx(ei / 40.0)
    assert reason.detail.endswith(f"expected improvement {ei:.4g} at the next rung for 40 J = {ei / 40:.4g}/J "
                                  f"(2 candidates)")
    # Without joules for every candidate, the cost is counted in epochs, and the reason says so.
    assert "for 2 epochs" in p.next_promotion(joules={3: 1.0}).reason.detail


def test_expected_improvement_uses_the_gains_seen_between_the_rungs() -> None:
    here = {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.4}
    above = {0: 0.6, 1: 0.8}  # gains 0.1 and 0.2: mean 0.15, sd 0.0707
    mean, sd, best = 0.4 + 0.15, math.sqrt(0.005), 0.8
    z = (mean - best) / sd
    phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert expected_improvement(here, above, 0.4) == pytest.approx(sd * (z * cdf + phi))
    assert expected_improvement(here, above, 0.9) > expected_improvement(here, above, 0.7) > 0


def test_stop_paused_ends_a_trial_that_can_no_longer_be_promoted() -> None:
    p = PromotionASHAPruner(mode="min", grace_period=1, reduction_factor=3, max_t=9)
    for t, v in enumerate((0.3, 0.2, 0.4)):
        p.report(t, 1, v)
    assert p.next_promotion().trial_id == 1
    d = p.stop_paused(2)
    assert d.stop and d.reason.value == 0.4 and d.reason.cutoff == 0.2 and d.reason.rung == 1
    assert d.reason.detail == "stopped at rung 1 (epoch 1): not promoted, rank 3 of 3 where the top 1 can be"
    assert p.paused() == {0: 1}
    with pytest.raises(ValueError, match="trial 2 is not paused; only a paused trial can be stopped here"):
        p.stop_paused(2)
    with pytest.raises(ValueError, match="trial 1 is not paused; only a paused trial can be promoted"):
        p.promote(1)
    assert p.promote(0).reason.detail.endswith("out of turn")


def test_a_trial_paused_at_its_last_epoch_can_complete() -> None:
    # max_t 9 but the trials run 3 epochs: rung 3 is not the last, and the runtime completes the trial there.
    p = PromotionASHAPruner(grace_period=1, reduction_factor=3, max_t=9)
    for t in range(3):
        p.report(t, 1, 0.5 + t / 10)
    assert p.next_promotion().trial_id == 2
    p.report(2, 2, 0.8)
    assert p.report(2, 3, 0.9).pause
    p.complete(2)
    assert p.paused() == {0: 1, 1: 1} and p.rungs()[3] == {2: 0.9} and p.n_completed == 1


def test_non_finite_values_stop_without_being_recorded() -> None:
    p = PromotionASHAPruner(grace_period=1, reduction_factor=3, max_t=9)
    assert p.report(0, 1, math.nan).stop
    assert p.rungs()[1] == {} and p.paused() == {}


@pytest.mark.parametrize(("options", "match"), [
    ({"order": "cheapest"}, "order must be 'value' or 'value_per_joule', got 'cheapest'"),
    ({"grace_period": 0}, "grace_period must be > 0 and finite, got 0.0"),
    ({"reduction_factor": 1}, "reduction_factor must be > 1 and finite, got 1.0"),
    ({"max_t": 0.5}, "max_t must be finite and >= grace_period 1, got 0.5"),
])
def test_rejects_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PromotionASHAPruner(**options)


# ---- properties: a pure scheduler loop around the pruner ---------------------------------------------------

def simulate(p: PromotionASHAPruner, values: list[list[float]], workers: int, joules: list[float],
             sign: float = 1.0, check=None) -> list:
    """Free workers first promote, else start the next trial; returns every decision and promotion in order."""
    epochs = len(values[0])
    log: list = []
    running: list[tuple[int, int]] = []  # (trial, next epoch)
    next_trial = 0
    while True:
        while len(running) < workers:
            spent = {t: joules[t] * e for t, e in ((t, int(m)) for t, m in p.paused().items())}
            promotion = p.next_promotion(joules=spent)
            if promotion is not None:
                if check is not None:
                    check(p, promotion)
                log.append(promotion)
                running.append((promotion.trial_id, int(promotion.reason.progress) + 1))
            elif next_trial < len(values):
                running.append((next_trial, 1))
                next_trial += 1
            else:
                break
        if not running:
            break
        trial, epoch = running.pop(0)
        d = p.report(trial, epoch, sign * values[trial][epoch - 1])
        log.append(d)
        if d.action is Action.CONTINUE:
            if epoch == epochs:
                p.complete(trial)
            else:
                running.append((trial, epoch + 1))
    log += [p.stop_paused(t) for t in p.paused()]
    return log


_VALUES = st.lists(st.lists(st.one_of(st.sampled_from((0.0, 0.5, 1.0)), st.floats(-1e3, 1e3)), min_size=9,
                            max_size=9), min_size=1, max_size=10)


@pytest.mark.parametrize("order", ["value", "value_per_joule"])
@settings(max_examples=30, deadline=None)
@given(values=_VALUES, workers=st.integers(1, 3), eta=st.sampled_from((2, 3)), noise=st.integers(0, 2**32 - 1))
def test_replay_and_mode_flip(order: str, values: list, workers: int, eta: int, noise: int) -> None:
    joules = [1.0 + (i % 4) for i in range(len(values))]
    make = lambda mode: PromotionASHAPruner(mode=mode, grace_period=1, reduction_factor=eta, max_t=9,  # noqa: E731
                                            order=order)
    first = simulate(make("max"), values, workers, joules)
    random.seed(noise)
    np.random.seed(noise)
    assert simulate(make("max"), values, workers, joules) == first
    flipped = simulate(make("min"), values, workers, joules, sign=-1.0)
    assert len(flipped) == len(first)
    for a, b in zip(first, flipped):
        assert type(a) is type(b)
        ra, rb = a.reason, b.reason
        assert getattr(a, "trial_id", None) == getattr(b, "trial_id", None)
        assert getattr(a, "action", None) == getattr(b, "action", None)
        assert ra.value == -rb.value and (ra.cutoff is None) == (rb.cutoff is None)
        assert ra.score == rb.score and ra.rung == rb.rung


def _in_the_top_third(p: PromotionASHAPruner, promotion) -> None:
    """At the moment of its promotion, the trial is among the best len(rung) // 3 of its rung (ties by id)."""
    rec = p.rungs()[promotion.rung]
    ranked = sorted(rec, key=lambda t: (-rec[t], t))
    assert promotion.trial_id in ranked[:len(rec) // 3]


@settings(max_examples=30, deadline=None)
@given(values=_VALUES, workers=st.integers(1, 3))
def test_every_trial_ends_and_each_promotion_is_in_the_top_third(values: list, workers: int) -> None:
    p = PromotionASHAPruner(grace_period=1, reduction_factor=3, max_t=9)
    log = simulate(p, values, workers, [1.0] * len(values), check=_in_the_top_third)
    assert not p.paused()
    ended = {d.reason.progress for d in log if getattr(d, "stop", False)}
    assert ended <= {1.0, 3.0}  # only paused trials are stopped, at the rungs below the last
