"""Replay throughput: reports per second through the scheduler core on a simulated clock.

The source is the baseline's 81-config grid (basht's ls, ln, decay, lr) at 27 epochs, with synthetic
learning curves (raybench.search.synthetic) and 0.1 s / 1 J per epoch, written as a --curves table; it is
replayed under ASHA (grace 1, eta 3, max_t 27) and under no pruning, with 1 and 4 simulated workers, into
a real run directory (event log, summary.json, trials.csv). Prints medians of --repeats runs.

    python scripts/bench_replay.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import statistics
import tempfile
import time

from raybench.cli._main import main
from raybench.search.space import Choice
from raybench.search.synthetic import SyntheticObjective

SPACE = {"layer_size": [32, 64, 128], "num_layers": [1, 2, 3], "weight_decay": [0.0, 0.0001, 0.001],
         "lr": [0.0001, 0.001, 0.01]}
EPOCHS = 27


def write_curves(path: str) -> int:
    obj = SyntheticObjective({k: Choice(tuple(v)) for k, v in SPACE.items()}, seed=0)
    rows = 0
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "value", "seconds", "joules", *(f"param.{k}" for k in SPACE)])
        for values in itertools.product(*SPACE.values()):
            config = dict(zip(SPACE, values))
            for epoch in range(1, EPOCHS + 1):
                w.writerow([epoch, obj.curve(config, epoch), 0.1, 1.0, *values])
                rows += 1
    return rows


def one(curves: str, out: str, pruner: str, workers: int) -> tuple[float, float, int]:
    """(replay s, replay + derive s via the CLI, reports)."""
    import shutil

    import yaml

    from raybench.config import ExperimentConfig
    from raybench.core.replay import replay, source_from_csv
    from raybench.events import EventLog

    source = source_from_csv(curves)
    data = source.config.to_dict()
    data["pruner"] = yaml.safe_load(pruner)
    data["workers"]["count"] = workers
    config = ExperimentConfig.model_validate(data)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    log = EventLog.open(os.path.join(out, "events.msgpack"), buffered=True)
    t = time.perf_counter()
    result = replay(source, config, log, workers=workers, sampler_changed=False)
    core_s = time.perf_counter() - t
    log.close()
    t = time.perf_counter()
    rc = main(["replay", "--curves", curves, "--out", out, "--force", "--workers", str(workers), "--pruner", pruner])
    assert rc == 0
    return core_s, time.perf_counter() - t, result.reports


def main_() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import contextlib
    import io

    with tempfile.TemporaryDirectory() as d:
        curves = os.path.join(d, "grid81x27.csv")
        write_curves(curves)
        print("| pruner | workers | reports | replay s (median) | reports/s | CLI: replay + derive s (median) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, spec in (("none", "{type: none}"),
                           ("asha", "{type: asha, grace_period: 1, reduction_factor: 3, max_t: 27}")):
            for workers in (1, 4):
                runs = []
                for _ in range(args.repeats):
                    with contextlib.redirect_stdout(io.StringIO()):
                        runs.append(one(curves, os.path.join(d, "out"), spec, workers))
                core_s = statistics.median(r[0] for r in runs)
                cli_s = statistics.median(r[1] for r in runs)
                reports = runs[0][2]
                print(f"| {name} | {workers} | {reports} | {core_s:.3f} | {reports / core_s:,.0f} | {cli_s:.2f} |")


if __name__ == "__main__":
    main_()
