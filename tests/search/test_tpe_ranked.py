"""TPE's kept split (RankedSplit) gives exactly the groups a split afresh gives, whatever the order of events."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raybench.search import space as sp
from raybench.search.samplers import TPESampler
from raybench.search.samplers._tpe import sampler as tpe
from raybench.search.samplers._tpe._ranked import RankedSplit, _Fenwick
from raybench.search.samplers._tpe._split import split_good
from raybench.search.samplers._tpe.sampler import n_good_trials
from raybench.search.samplers._warm import WarmTrial


def reference(status: dict[int, str], loss: dict[int, float], gamma: float, liar: bool) -> tuple[list, list]:
    """The groups as the sampler splits afresh: good by loss (ties to the earlier row), bad the rest (+ pending)."""
    done = np.array(sorted(r for r, s in status.items() if s == "done"), dtype=np.int64)
    if not len(done):
        return [], sorted(r for r, s in status.items() if s == "pending") if liar else []
    is_good = split_good(np.array([[loss[r]] for r in done]), n_good_trials(len(done), gamma))
    bad = set(done[~is_good].tolist())
    if liar:
        bad |= {r for r, s in status.items() if s == "pending"}
    return done[is_good].tolist(), sorted(bad)


def groups(split: RankedSplit) -> tuple[list, list]:
    good, bad = split.sizes()
    return split.rows(0, np.arange(good)).tolist(), split.rows(1, np.arange(bad)).tolist()


@pytest.mark.parametrize("liar", [True, False])
@pytest.mark.parametrize("gamma", [0.1, 0.25, 0.9])
@pytest.mark.parametrize("seed", range(4))
def test_the_kept_split_equals_a_split_afresh_after_every_event(seed: int, gamma: float, liar: bool) -> None:
    rng = np.random.default_rng(seed)
    split = RankedSplit(lambda n: n_good_trials(n, gamma), liar, capacity=2)  # grows several times
    status: dict[int, str] = {}
    loss: dict[int, float] = {}
    # Few distinct losses, so ties are common; infinities on both sides.
    values = [-math.inf, -1.0, 0.0, 0.0, 0.5, 1.0, 2.0, math.inf]
    for _ in range(600):
        u = rng.random()
        if u < 0.4 or not status:
            row = len(status)
            split.pending(row)
            status[row] = "pending"
        else:
            row = int(rng.integers(len(status)))
            if rng.random() < 0.8:  # a value, first or replacing an earlier one (observe again)
                loss[row] = float(values[rng.integers(len(values))] if rng.random() < 0.5 else rng.normal())
                split.finished(row, loss[row])
                status[row] = "done"
            else:
                split.failed(row)
                status[row] = "failed"
        assert groups(split) == reference(status, loss, gamma, liar)
        assert split.n_done == sum(s == "done" for s in status.values())


def test_select_finds_the_member_at_each_rank() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 64, 1000):
        members = rng.random(n) < 0.3
        tree = _Fenwick.of(members)
        rows = np.flatnonzero(members)
        assert tree.select(np.arange(len(rows))).tolist() == rows.tolist()
        for row in rng.integers(n, size=20):  # one at a time, as the kept split updates it
            tree.add(int(row), -1 if members[row] else 1)
            members[row] = not members[row]
        assert tree.select(np.arange(members.sum())).tolist() == np.flatnonzero(members).tolist()


SPACE = {"lr": sp.LogUniform(1e-5, 1.0), "layers": sp.IntRange(1, 8), "act": sp.Choice(("relu", "gelu", "tanh")),
         "x": sp.Uniform(-2.0, 3.0)}


def loss_of(c: dict) -> float:
    return (math.log10(c["lr"]) + 2.5) ** 2 + 0.1 * (c["layers"] - 3) ** 2 + (c["act"] != "relu") + (c["x"] - 0.5) ** 2


def run(monkeypatch: pytest.MonkeyPatch, ranked_from: int, *, multivariate: bool, out_of_order: bool = False) -> list:
    """A run of 1,400 trials (so both groups outgrow MAX_KERNELS... the bad one) with warm-start trials,
    4 parallel workers (pending trials), failures, values observed twice and ties; its suggestions."""
    monkeypatch.setattr(tpe, "RANKED_FROM", ranked_from)
    rng = np.random.default_rng(7)
    prior = [WarmTrial({k: sp.sample(p, rng) for k, p in SPACE.items()}, float(rng.normal())) for _ in range(30)]
    sampler = TPESampler(SPACE, seed=5, mode="min", multivariate=multivariate, prior_trials=prior)
    history = np.random.default_rng(1)
    first = 1200
    ids = list(range(first))
    if out_of_order:
        ids[10], ids[11] = ids[11], ids[10]  # a resume replays two trials out of order: no kept split then
    for t in ids:
        config = {k: sp.sample(p, history) for k, p in SPACE.items()}
        sampler.replay(t, config)
        sampler.observe(t, None if t % 17 == 0 else round(loss_of(config), 1))  # rounded: many ties
    out = []
    for r in range(12):
        batch = [(i, sampler.suggest(i)) for i in range(first + 4 * r, first + 4 * r + 4)]
        for i, config in batch:
            sampler.observe(i, None if i % 5 == 0 else loss_of(config))
            if i % 3 == 0:
                sampler.observe(i, 0.25)  # a later value replaces the first
        out += [config for _, config in batch]
    return out


@pytest.mark.parametrize("multivariate", [True, False])
def test_suggestions_are_the_same_from_the_kept_split(monkeypatch: pytest.MonkeyPatch, multivariate: bool) -> None:
    afresh = run(monkeypatch, 10**9, multivariate=multivariate)
    kept = run(monkeypatch, 0, multivariate=multivariate)
    assert kept == afresh


def test_a_replay_out_of_order_falls_back_to_splitting_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    afresh = run(monkeypatch, 10**9, multivariate=True, out_of_order=True)
    assert run(monkeypatch, 0, multivariate=True, out_of_order=True) == afresh
    monkeypatch.setattr(tpe, "RANKED_FROM", 0)
    sampler = TPESampler(SPACE, seed=5, mode="min")
    sampler.replay(3, {"lr": 0.1, "layers": 2, "act": "relu", "x": 0.0})
    assert sampler._table.split is not None
    sampler.replay(1, {"lr": 0.1, "layers": 2, "act": "relu", "x": 0.0})
    assert sampler._table.split is None


def test_several_objectives_keep_no_split() -> None:
    sampler = TPESampler(SPACE, seed=0, objectives=[("a", "min"), ("b", "max")])
    assert sampler._table.split is None
