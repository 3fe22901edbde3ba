"""The plots without a browser: every PNG exists, decodes and has a sensible size, and the series behind
them (cumulative energy, provenance, per-trial energy, power) are computed as docs/report.md says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raybench.errors import RunDirError
from raybench.events.sample import T0
from raybench.report.plots import (
    PLOT_NAMES,
    cumulative_energy,
    energy_provenance,
    energy_samples,
    load_run,
    node_power_w,
    trial_energy_j,
    write_plots,
)
from raybench.report.plots._energy import energy_at, provenance_kind

NO_ENERGY = {"anytime_energy", "energy_per_trial", "node_power"}
ONE_OBJECTIVE = {"pareto"}  # these runs have one objective: no Pareto front


def check_png(path: str | Path) -> tuple[int, int]:
    """Decode fully, and check the picture is not one flat colour and is neither tiny nor huge."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        w, h = im.size
        colors = im.convert("RGB").getcolors(maxcolors=1 << 16)
    assert 400 <= w <= 2000 and 200 <= h <= 2000, (path, w, h)
    assert colors is None or len(colors) > 20, f"{path} looks blank"
    return w, h


@pytest.mark.parametrize("fixture", ["rich_run", "sample_run"])
def test_every_plot_is_a_valid_png(fixture: str, request: pytest.FixtureRequest) -> None:
    run_dir = request.getfixturevalue(fixture)
    plots = write_plots(run_dir)
    assert [p.name for p in plots.plots] == [n for n in PLOT_NAMES if n not in ONE_OBJECTIVE]
    assert set(plots.notes) == ONE_OBJECTIVE
    for p in plots.plots:
        assert Path(p.path).parent == run_dir / "plots"
        check_png(p.path)
        assert len(p.alt) > 40 and p.title


def test_the_same_log_draws_the_same_bytes(rich_run: Path, tmp_path: Path) -> None:
    first = {p.name: Path(p.path).read_bytes() for p in write_plots(rich_run).plots}
    second = {p.name: Path(p.path).read_bytes() for p in write_plots(rich_run, out_dir=tmp_path / "again").plots}
    assert first == second


def test_run_without_energy_draws_the_time_plots_and_says_why_not_the_others(bare_run: Path) -> None:
    plots = write_plots(bare_run)
    assert {p.name for p in plots.plots} == set(PLOT_NAMES) - NO_ENERGY - ONE_OBJECTIVE
    assert set(plots.notes) == NO_ENERGY | ONE_OBJECTIVE
    assert "no energy samples" in plots.notes["anytime_energy"]
    assert plots.energy is None and plots.provenance == "none"
    for p in plots.plots:
        check_png(p.path)
    assert sorted(f.name for f in (bare_run / "plots").iterdir()) == sorted(f"{p.name}.png" for p in plots.plots)


def test_plots_of_an_earlier_draw_that_no_longer_apply_are_removed(rich_run: Path, tmp_path: Path, make_run) -> None:
    out = tmp_path / "shared-plots"
    write_plots(rich_run, out_dir=out)
    assert (out / "node_power.png").is_file()
    write_plots(make_run("bare2", [e for e in load_run(rich_run).events if e["event"] != "energy_sample"]), out_dir=out)
    assert not (out / "node_power.png").exists() and (out / "anytime_time.png").is_file()


def test_a_run_with_nothing_but_its_start_still_draws(rich_run: Path, make_run) -> None:
    start = [e for e in load_run(rich_run).events if e["event"] == "experiment_start"]
    plots = write_plots(make_run("empty", start))
    assert [p.name for p in plots.plots] == ["anytime_time"]
    check_png(plots.plots[0].path)
    assert plots.notes["pruning_timeline"] == "no trial reported a step"


def test_missing_run_dir_is_a_run_dir_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="does not exist"):
        write_plots(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="events.msgpack"):
        write_plots(tmp_path / "empty")


def test_cumulative_energy_sums_nodes_in_t1_order_and_maps_trial_ends(rich_run: Path) -> None:
    run = load_run(rich_run)
    samples = energy_samples(run)
    ts, js = cumulative_energy(samples)
    assert ts[0] == T0 + 2 and js[0] == 0.0
    assert np.all(np.diff(ts) >= 0) and np.all(np.diff(js) >= 0)
    total = sum(v for s in samples for v in s["energy_j"].values() if v is not None)
    assert js[-1] == pytest.approx(total)
    # At t: the joules of every sample that ended by t (both nodes' samples end together here).
    assert energy_at(T0, (ts, js)) == 0.0
    assert energy_at(T0 + 1000, (ts, js)) == pytest.approx(total)
    assert ts[10] == ts[9] < ts[11]
    assert energy_at((ts[10] + ts[11]) / 2, (ts, js)) == energy_at(ts[10], (ts, js)) == js[10]
    assert js[10] == pytest.approx(sum(v for s in samples if s["t1"] <= ts[10] for v in s["energy_j"].values() if v))


def test_provenance_labels() -> None:
    assert [provenance_kind(x) for x in ("powercap", "nvml", "measured", "estimate", "estimated", "none", None)] == [
        "measured", "measured", "measured", "estimated", "estimated", "none", "none"]

    def sample(prov: dict, energy: dict) -> dict:
        return {"t0": 0.0, "t1": 1.0, "provenance": prov, "energy_j": energy}

    assert energy_provenance([]) == "none"
    assert energy_provenance([sample({"cpu": "powercap", "gpu": "estimate"}, {"cpu": 1.0, "gpu": None})]) == "measured"
    assert energy_provenance([sample({"cpu": "estimate"}, {"cpu": 1.0})]) == "estimated"
    assert energy_provenance([sample({"cpu": "estimate", "gpu": "nvml"}, {"cpu": 1.0, "gpu": 2.0})]) == "measured + estimated"


def test_trial_energy_in_plots_is_the_energy_layers_attribution(rich_run: Path) -> None:
    # The plots compute no energy of their own: they read the energy section derived from the log once.
    from raybench.energy import EnergyLedger

    run = load_run(rich_run)
    energy = trial_energy_j(run, energy_samples(run))
    assert energy.provenance == "measured + estimated"
    ledger = EnergyLedger()
    for e in run.events:
        if e["event"] == "node_baseline":
            ledger.add_baseline(e)
        elif e["event"] == "energy_sample":
            ledger.add_sample(e)
    expected = {t: d["cpu_j"] + d["dram_j"] + d["gpu_j"] for t, d in ledger.trials().items()}
    assert energy.joules.keys() == expected.keys() and expected
    for t in expected:
        assert energy.joules[t] == pytest.approx(expected[t])


def test_per_trial_energy_from_summary_json_wins(rich_run: Path) -> None:
    # Both layouts: {"total_j"} and raybench.energy.metrics' {"energy_j": {"total", "with_idle", ...}}.
    per_trial = [{"trial_id": 0, "total_j": 12.0},
                 {"trial_id": 2, "status": "completed", "energy_j": {"cpu": 20.0, "total": 30.5, "with_idle": 40.0}},
                 {"trial_id": 3, "energy_j": {"total": None}}]
    (rich_run / "summary.json").write_text(json.dumps({"energy": {"total_j": 99.0, "per_trial": per_trial}}))
    run = load_run(rich_run)
    energy = trial_energy_j(run, energy_samples(run))
    assert dict(energy.joules) == {0: 12.0, 2: 30.5}
    assert run.summary["trials"]["total"] == 6  # derived keys stay under the file's
    plots = write_plots(run)
    assert plots.get("energy_per_trial") is not None and "attributed" in plots.get("energy_per_trial").alt


def test_node_power_is_joules_over_interval(rich_run: Path) -> None:
    series = {(s.node_id, s.domain): s for s in node_power_w(energy_samples(load_run(rich_run)))}
    assert set(series) == {("n-head", "cpu"), ("n-head", "dram"), ("n-w1", "cpu"), ("n-w1", "dram"), ("n-w1", "gpu")}
    assert series[("n-w1", "gpu")].provenance == "measured" and series[("n-w1", "cpu")].provenance == "estimated"
    t0, t1, w = series[("n-head", "cpu")].points[0]
    assert (t0, t1) == (T0 + 2, T0 + 3) and w == pytest.approx(12.5)  # idle: nothing runs before t=4
    assert all(p[2] >= 12.5 for p in series[("n-head", "cpu")].points)


def test_the_report_command_reads_the_log_once_and_sees_what_a_fresh_load_sees(rich_run: Path) -> None:
    from raybench.events.derive import derive_run
    from raybench.report.plots import run_data

    one_pass = run_data(derive_run(rich_run))  # what `raybench report --html` draws from
    fresh = load_run(rich_run)  # a reader of the files just written
    assert one_pass.events == fresh.events and one_pass.rows == fresh.rows
    assert one_pass.summary == fresh.summary and one_pass.damage == fresh.damage
    assert (one_pass.start_t, one_pass.end_t) == (fresh.start_t, fresh.end_t)
    assert one_pass.state.trials.keys() == fresh.state.trials.keys()


def _page_files(run_dir: Path) -> dict[str, bytes]:
    files = [run_dir / "report.html", *sorted((run_dir / "plots").glob("*.png"))]
    return {f.name: f.read_bytes() for f in files}


def _scheduled_run(run_dir: Path, n: int = 300) -> Path:
    """A run the scheduler core writes itself: n zero-cost trials through stopping ASHA, many stops."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import bench_growth

    run_dir.mkdir()
    bench_growth.child_schedule(n, str(run_dir))
    return run_dir


@pytest.mark.parametrize("which", ["rich", "bare", "sample", "scheduled"])
def test_the_streamed_report_draws_the_same_page_as_a_full_load(which, rich_run, bare_run, sample_run,
                                                                tmp_path) -> None:
    """`raybench report --html` keeps only what the page reads of the per-report events (PlotIndex); the page
    and its plots are the same bytes as those drawn from every event of the log."""
    from raybench.events.derive import derive_run
    from raybench.report.html import write_report
    from raybench.report.plots import PlotIndex, run_data

    run_dir = {"rich": rich_run, "bare": bare_run, "sample": sample_run}.get(which) or _scheduled_run(tmp_path / "s")
    derive_run(run_dir)  # summary.json as `raybench report` writes it first
    full = load_run(run_dir)
    write_report(run_dir, run=full)
    expected = _page_files(run_dir)
    index = PlotIndex()
    derived = derive_run(run_dir, keep_events=False, taps=[index.add])
    streamed = run_data(derived, index)
    assert len(streamed.events) < len(full.events) or which != "scheduled"  # reports and decisions not kept
    assert streamed.event_count == full.event_count
    assert streamed.stops == full.stops and streamed.steps == full.steps
    assert list(streamed.samples) == list(full.samples) and streamed.log_audit == full.log_audit
    assert streamed.rows == full.rows and streamed.summary == full.summary
    if which == "scheduled":
        assert streamed.stops and streamed.log_audit["rows"]  # a run with stops: the audit has rows to compare
    write_report(run_dir, run=streamed)
    assert _page_files(run_dir) == expected
