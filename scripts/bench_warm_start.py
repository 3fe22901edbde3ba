"""Does a warm start pay? Trials a warm-started TPE needs to reach a cold TPE's 100-trial best, over seeds.

On the synthetic task (raybench.search.synthetic, a known function of a mixed 5-parameter space), per
seed: an earlier run of TPE (another sampler seed) is written as an event log; then a cold TPE runs
`--trials` trials, and a TPE warm-started from the earlier run's log (`warm_start: [RUN_DIR]`) runs
until it matches the cold run's best. Values are the noiseless final accuracy (maximised).

    .venv/bin/python scripts/bench_warm_start.py            # 100 trials, 20 seeds
    .venv/bin/python scripts/bench_warm_start.py --quick    # 50 trials, 5 seeds
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from raybench.config._schema import ExperimentConfig
from raybench.events import EVENTS_FILE, EventLog, make_event
from raybench.search import space as sp
from raybench.search.samplers import TPESampler
from raybench.search.synthetic import SyntheticObjective

SEARCH_SPACE = {"lr": {"type": "loguniform", "low": 1e-5, "high": 1e-1},
                "layers": {"type": "int", "low": 1, "high": 8},
                "width": {"type": "choice", "values": [32, 64, 128, 256, 512]},
                "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
                "batch": {"type": "int", "low": 16, "high": 1024, "log": True}}
SPACE = {"lr": sp.LogUniform(1e-5, 1e-1), "layers": sp.IntRange(1, 8), "width": sp.Choice((32, 64, 128, 256, 512)),
         "dropout": sp.Uniform(0.0, 0.5), "batch": sp.IntRange(16, 1024, log=True)}


def run(sampler: TPESampler, objective: SyntheticObjective, n_trials: int) -> list[tuple[dict, float]]:
    history = []
    for t in range(n_trials):
        config = sampler.suggest(t)
        value = objective.final(config)
        sampler.observe(t, value)
        history.append((config, value))
    return history


def write_log(run_dir: Path, history: list[tuple[dict, float]]) -> None:
    run_dir.mkdir(parents=True)
    config = ExperimentConfig(name="earlier", search_space=SEARCH_SPACE, sampler={"type": "tpe"}).to_dict()
    with EventLog.open(run_dir / EVENTS_FILE) as log:
        log.append(make_event("experiment_start", run_id="earlier", name="earlier", config=config, env={},
                              requested_concurrency=1, effective_concurrency=1, resumed=False))
        for trial_id, (trial_config, value) in enumerate(history):
            log.append(make_event("trial_created", trial_id=trial_id, config=trial_config), sync=False)
            log.append(make_event("trial_completed", trial_id=trial_id, status="completed", steps=1,
                                  final_metric=value, best_metric=value, duration_s=0.0, peak_rss_mb=None),
                       sync=False)


def trials_to_reach(history: list[tuple[dict, float]], target: float) -> int | None:
    for i, (_, value) in enumerate(history):
        if value >= target:
            return i + 1
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 trials, 5 seeds")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    n_trials, n_seeds = (50, 5) if args.quick else (args.trials, args.seeds)
    print(f"synthetic task, 5 parameters; cold TPE: {n_trials} trials; earlier run: {n_trials} TPE trials "
          "(another sampler seed); n_startup_trials 10")
    print(f"{'seed':>4} {'cold best':>10} {'cold: trial of its best':>24} {'warm: trials to reach it':>25} "
          f"{'warm best at 10':>16} {'cold best at 10':>16}")
    reach, cold_reach, warm10, cold10 = [], [], [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(n_seeds):
            objective = SyntheticObjective(SPACE, seed=seed, noise_sd=0.0)
            earlier = run(TPESampler(SPACE, seed=1000 + seed, mode="max"), objective, n_trials)
            run_dir = Path(tmp) / f"earlier-{seed}"
            write_log(run_dir, earlier)
            cold = run(TPESampler(SPACE, seed=seed, mode="max"), objective, n_trials)
            target = max(v for _, v in cold)
            warm = run(TPESampler(SPACE, seed=seed, mode="max", warm_start=[str(run_dir)]), objective, n_trials)
            n = trials_to_reach(warm, target)
            reach.append(n if n is not None else n_trials + 1)
            cold_reach.append(trials_to_reach(cold, target))
            warm10.append(max(v for _, v in warm[:10]))
            cold10.append(max(v for _, v in cold[:10]))
            print(f"{seed:>4} {target:>10.4f} {cold_reach[-1]:>24} {n if n is not None else f'> {n_trials}':>25} "
                  f"{warm10[-1]:>16.4f} {cold10[-1]:>16.4f}", flush=True)
    reached = sum(r <= n_trials for r in reach)
    print(f"median trials for the warm TPE to reach the cold TPE's {n_trials}-trial best: "
          f"{statistics.median(reach):g} (reached on {reached} of {n_seeds} seeds; a miss counts as {n_trials + 1}); "
          f"the cold TPE itself first reached it at trial {statistics.median(cold_reach):g} (median)")
    print(f"median best after 10 trials: warm {statistics.median(warm10):.4f}, cold {statistics.median(cold10):.4f}")
    print(f"wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
