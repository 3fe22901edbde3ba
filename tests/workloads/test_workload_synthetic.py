import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raybench.search import space as sp
from raybench.search.synthetic import SyntheticObjective, seeded_normal
from raybench.workloads import SyntheticWorkload, build_workload

MIXED = {
    "lr": sp.LogUniform(1e-5, 1e-1),
    "momentum": sp.Uniform(0.0, 0.99),
    "layers": sp.IntRange(1, 8),
    "width": sp.IntRange(16, 1024, log=True),
    "act": sp.Choice(("relu", "tanh", "gelu")),
}
GRID = {"layer_size": sp.Choice((32, 64, 128)), "num_layers": sp.Choice((1, 2, 3)),
        "weight_decay": sp.Choice((0.0, 1e-4, 1e-3)), "lr": sp.Choice((1e-4, 1e-3, 1e-2))}
TASK = {"dataset": "synthetic", "model": "ff", "epochs": 5, "options": {}}


def test_the_known_optimum_beats_every_grid_point():
    obj = SyntheticObjective(GRID, seed=3)
    finals = [obj.final(c) for c in sp.grid_points(GRID)]
    assert max(finals) == pytest.approx(obj.best_value())
    assert obj.optimum() in sp.grid_points(GRID)
    assert len(set(np.round(finals, 9))) > 40  # the configurations are told apart


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), draw=st.integers(0, 2**32))
def test_no_sampled_config_beats_the_optimum_and_values_stay_in_unit_range(seed, draw):
    obj = SyntheticObjective(MIXED, seed=seed)
    config = sp.sample_config(MIXED, np.random.default_rng(draw))
    assert obj.final(config) <= obj.best_value() + 1e-12
    assert all(sp.contains(MIXED[k], v) for k, v in obj.optimum().items())
    for epoch in (0, 1, 5, 50):
        assert 0.0 <= obj.curve(config, epoch, trial=draw) <= 1.0


def test_curve_rises_towards_final_and_noise_is_seeded_by_trial_and_epoch():
    obj = SyntheticObjective(MIXED, seed=0, noise_sd=0.02)
    config = sp.sample_config(MIXED, np.random.default_rng(1))
    means = [obj.mean_curve(config, e) for e in range(30)]
    assert means[0] == obj.floor and all(a < b for a, b in zip(means, means[1:]))
    assert means[-1] == pytest.approx(obj.final(config), abs=0.02)
    assert obj.curve(config, 3, trial=5) == obj.curve(config, 3, trial=5)
    assert obj.curve(config, 3, trial=5) != obj.curve(config, 3, trial=6)
    assert SyntheticObjective(MIXED, seed=0, noise_sd=0).curve(config, 3) == obj.mean_curve(config, 3)


def test_noise_is_standard_normal_and_independent_across_trials_epochs_and_seeds():
    from scipy import stats

    z = np.array([[seeded_normal(0, trial, epoch) for epoch in range(1, 11)] for trial in range(4000)])
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    assert abs(stats.skew(z.ravel())) < 0.1 and abs(stats.kurtosis(z.ravel())) < 0.1
    # Neighbouring epochs, neighbouring trials and neighbouring seeds draw unrelated values.
    assert abs(np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]) < 0.03
    assert abs(np.corrcoef(z[:-1].ravel(), z[1:].ravel())[0, 1]) < 0.03
    other_seed = np.array([[seeded_normal(1, trial, epoch) for epoch in range(1, 11)] for trial in range(4000)])
    assert abs(np.corrcoef(z.ravel(), other_seed.ravel())[0, 1]) < 0.03
    assert seeded_normal(0, 5, 3) == seeded_normal(0, 5, 3) != seeded_normal(0, 3, 5)  # the keys' order counts

    obj = SyntheticObjective(MIXED, seed=7, noise_sd=0.02)
    config = sp.sample_config(MIXED, np.random.default_rng(2))
    mean = obj.mean_curve(config, 4)
    assert obj.curve(config, 4, trial=9) == pytest.approx(min(max(mean + 0.02 * seeded_normal(7, 9, 4), 0.0), 1.0))


def test_shape_is_final_and_tau_with_the_config_checked_once():
    obj = SyntheticObjective(MIXED, seed=3)
    for i in range(20):
        config = sp.sample_config(MIXED, np.random.default_rng(i))
        assert obj.shape(config) == (obj.final(config), obj.tau(config))
    with pytest.raises(ValueError, match="missing"):
        obj.shape({"lr": 1e-3})


def test_curves_cross_some_configs_learn_fast_and_end_low():
    obj = SyntheticObjective(MIXED, seed=0)
    taus = [obj.tau(sp.sample_config(MIXED, np.random.default_rng(i))) for i in range(50)]
    assert max(taus) / min(taus) > 2


def test_adding_a_parameter_keeps_the_optimum_of_the_others():
    a = SyntheticObjective(MIXED, seed=4).optimum()
    b = SyntheticObjective({**MIXED, "extra": sp.Uniform(0, 1)}, seed=4).optimum()
    assert {k: b[k] for k in a} == a


@pytest.mark.parametrize("config,match", [({"lr": 1e-3}, "missing"), ({**dict.fromkeys(GRID, 0), "x": 1}, "unknown"),
                                          ({"layer_size": 48, "num_layers": 1, "weight_decay": 0.0, "lr": 1e-3},
                                           "layer_size: 48 is not one of")])
def test_configs_outside_the_space_are_named(config, match):
    with pytest.raises(ValueError, match=match):
        SyntheticObjective(GRID).final(config)


def test_bad_objective_settings():
    with pytest.raises(ValueError, match="empty"):
        SyntheticObjective({})
    with pytest.raises(ValueError, match="floor"):
        SyntheticObjective(GRID, floor=0.9, ceiling=0.5)
    with pytest.raises(ValueError, match="epoch"):
        SyntheticObjective(GRID).curve(sp.grid_points(GRID)[0], -1)


def test_workload_reports_the_curve_and_the_noiseless_final_as_test():
    config = sp.grid_points(GRID)[5]
    wl = build_workload(TASK, config, seed=11, experiment_seed=2, space=GRID)
    assert isinstance(wl, SyntheticWorkload)
    obj = SyntheticObjective(GRID, seed=2)
    for epoch in range(1, 4):
        wl.train_epoch(epoch - 1)
        ev = wl.evaluate()
        assert ev["val_accuracy"] == obj.curve(config, epoch, trial=11)
        assert ev["val_loss"] == pytest.approx(1 - ev["val_accuracy"])
    assert wl.test()["test_accuracy"] == obj.final(config)
    state = wl.state()
    other = build_workload(TASK, config, seed=11, experiment_seed=2, space=GRID)
    other.load_state(state)
    assert other.evaluate() == wl.evaluate()


def test_epoch_time_s_busy_waits():
    task = {**TASK, "options": {"epoch_time_s": 0.05}}
    wl = build_workload(task, sp.grid_points(GRID)[0], seed=0, space=GRID)
    t, cpu = time.perf_counter(), time.process_time()
    wl.train_epoch(0)
    assert time.perf_counter() - t >= 0.05
    assert time.process_time() - cpu >= 0.02  # it burns CPU rather than sleeping


def test_workload_errors():
    with pytest.raises(ValueError, match="space=config.space"):
        build_workload(TASK, {}, seed=0)
    with pytest.raises(ValueError, match="'epochs_per_s'"):
        build_workload({**TASK, "options": {"epochs_per_s": 1}}, sp.grid_points(GRID)[0], seed=0, space=GRID)
    with pytest.raises(ValueError, match="missing"):
        build_workload(TASK, {}, seed=0, space=GRID)
