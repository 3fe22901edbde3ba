"""What pruning really saves: one unpruned grid run's curves replayed under every pruner, audited against it.

    python scripts/headline_pruning.py GRID_RUN [--out DIR] [--workers 1] [--confirm NAME ...]

GRID_RUN is an unpruned, exhaustive grid run (configs/baseline-27.yaml: the baseline at 27 epochs, where
pruning has room). Each pruner below replays its recorded curves (docs/replay.md) and is audited against
it (`raybench audit --against`): every stop's final is known, so the wrong-stop rate and the regret are
exact. Prints a Markdown table for README.md and BENCHMARKS.md. Test accuracy exists only for the grid's
best trial (a replay does not train): a replay whose best is that config shares it, others show "-".

`--confirm NAME ...` then runs those pruners for real (`raybench run` of the grid's config with that pruner,
on this machine) and prints their measured rows, audited against the grid the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

PRUNERS = {
    "none": {"type": "none"},
    "median": {"type": "median", "warmup": 1, "min_peers": 3},
    "asha stopping": {"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": 27},
    "asha promotion, order value": {"type": "asha", "variant": "promotion", "grace_period": 1,
                                    "reduction_factor": 3, "max_t": 27, "order": "value"},
    "asha promotion, order value_per_joule": {"type": "asha", "variant": "promotion", "grace_period": 1,
                                              "reduction_factor": 3, "max_t": 27, "order": "value_per_joule"},
    "hyperband": {"type": "hyperband", "min_resource": 1, "max_resource": 27, "reduction_factor": 3},
    "learning_curve": {"type": "learning_curve"},
}


def main() -> None:
    from raybench.core.replay import load_source, replay_config, replay_to_dir
    from raybench.events import read_events
    from raybench.events.derive import run_log
    from raybench.report.audit import audit

    ap = argparse.ArgumentParser()
    ap.add_argument("grid_run")
    ap.add_argument("--out", default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--confirm", nargs="*", default=[], choices=sorted(PRUNERS), metavar="NAME",
                    help="pruners to run for real afterwards: " + ", ".join(repr(n) for n in PRUNERS))
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="headline-")
    source = load_source(args.grid_run)
    grid_events = read_events(run_log(args.grid_run)).events
    with open(os.path.join(args.grid_run, "summary.json")) as f:
        grid = json.load(f)
    g_best, g_trials_j, g_total_j = grid["best"], grid["energy"]["trials_j"], grid["energy"]["total_j"]
    print(f"grid: {args.grid_run}: best val {g_best['val_metric']:.4f}, test {g_best.get('test_accuracy')}, "
          f"trial energy {g_trials_j:.0f} J, node energy {g_total_j:.0f} J ({grid['energy']['provenance']}), "
          f"JCT {grid['jct_s']:.0f} s")
    print("| pruner | best val | best test acc | trial energy J (of grid) | node energy J (of grid) | JCT s "
          "(simulated) | stops | wrong-stop rate (95% interval) | regret |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, spec in PRUNERS.items():
        d = os.path.join(out, _slug(name))
        os.makedirs(d, exist_ok=True)
        config = replay_config(source, pruner=spec, workers=args.workers)
        _, s = replay_to_dir(source, config, d, sampler_changed=False)
        a = audit(read_events(run_log(d)).events, grid_events).to_dict()["totals"]
        best = s["best"] or {}
        same = best.get("config") == g_best["config"]
        test = f"{g_best['test_accuracy']:.4f}" if same and g_best.get("test_accuracy") is not None else "-"
        e = s["energy"]
        rate = ("-" if a["wrong_rate"] is None else
                f"{a['wrong_rate']:.1%} ({a['wrong_rate_interval'][0]:.0%}-{a['wrong_rate_interval'][1]:.0%})")
        regret = "-" if a["regret"] is None else f"{a['regret']:.4f}"
        print(f"| {name} | {best.get('val_metric', float('nan')):.4f} | {test} | {e['trials_j']:.0f} "
              f"({e['trials_j'] / g_trials_j:.1%}) | {e['total_j']:.0f} ({e['total_j'] / g_total_j:.1%}) | "
              f"{s['wall_s']:.0f} | {a['stops']} | {rate} | {regret} |")
    print(f"replayed run directories: {out}")
    if args.confirm:
        confirm(args.confirm, source.config, grid, grid_events, out)


def confirm(names, grid_config, grid, grid_events, out) -> None:
    """Real runs of the grid's config under the named pruners; their measured rows, audited against the grid."""
    import yaml

    from raybench.events import read_events
    from raybench.events.derive import run_log
    from raybench.report.audit import audit

    g_trials_j, g_total_j = grid["energy"]["trials_j"], grid["energy"]["total_j"]
    print("\nreal runs (measured on this machine; energy as the grid's provenance):")
    print("| pruner | best val | best test acc | trial energy J (of grid) | node energy J (of grid) | JCT s "
          "(of grid) | stops | wrong-stop rate (95% interval) | regret | decisions = its replay's |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name in names:
        d = os.path.join(out, "real-" + _slug(name))
        data = grid_config.to_dict()
        data["name"] = f"{grid_config.name}-{_slug(name)}"
        data["pruner"] = dict(PRUNERS[name])
        cfg = d + ".yaml"
        with open(cfg, "w") as f:
            yaml.safe_dump(data, f, sort_keys=False)
        subprocess.run([sys.executable, "-m", "raybench", "run", cfg, "--out", d, "--force", "--no-progress"],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(d, "summary.json")) as f:
            s = json.load(f)
        events = read_events(run_log(d)).events
        a = audit(events, grid_events).to_dict()["totals"]
        best, e = s["best"] or {}, s["energy"]
        # The real run against its replay from the grid's curves: the same (trial, step, action) sequence
        # wherever training is deterministic (mnist-5k on the CPU is: the seeds are the trial's).
        replayed = read_events(run_log(os.path.join(out, _slug(name)))).events
        same = _decisions(events) == _decisions(replayed)
        test = "-" if best.get("test_accuracy") is None else f"{best['test_accuracy']:.4f}"
        rate = ("-" if a["wrong_rate"] is None else
                f"{a['wrong_rate']:.1%} ({a['wrong_rate_interval'][0]:.0%}-{a['wrong_rate_interval'][1]:.0%})")
        regret = "-" if a["regret"] is None else f"{a['regret']:.4f}"
        print(f"| {name} | {best.get('val_metric', float('nan')):.4f} | {test} | {e['trials_j']:.0f} "
              f"({e['trials_j'] / g_trials_j:.1%}) | {e['total_j']:.0f} ({e['total_j'] / g_total_j:.1%}) | "
              f"{s['jct_s']:.0f} ({s['jct_s'] / grid['jct_s']:.0%}) | {a['stops']} | {rate} | {regret} | "
              f"{'yes' if same else 'no'} ({len(_decisions(events))}) |",
              flush=True)


def _slug(name: str) -> str:
    """A pruner's table name as a directory name: "asha promotion, order value" -> asha-promotion-order-value."""
    return name.replace(" ", "-").replace(",", "")


def _decisions(events) -> list[tuple]:
    return [(e["trial_id"], e["step"], e["action"]) for e in events if e["event"] == "decision"]


if __name__ == "__main__":
    main()
