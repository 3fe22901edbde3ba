"""report, export and compare through the CLI, on a realistic log written through the real EventLog."""

import csv
import json

import pytest

from raybench.cli import main
from raybench.events import EventLog
from raybench.events.sample import sample_events


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    with EventLog.open(d / "events.msgpack") as log:
        for e in sample_events(ended=True):
            log.append(e)
    return d


def test_export_jsonl_has_the_documented_fields(run_dir, tmp_path, capsys):
    out = tmp_path / "e.jsonl"
    assert main(["export", str(run_dir), "--format", "jsonl", "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["event"] == "experiment_start" and isinstance(records[0]["t"], float)
    reports = [r for r in records if r["event"] == "report"]
    assert reports and all({"trial_id", "step", "metrics"} <= set(r) for r in reports)
    decisions = [r for r in records if r["event"] == "decision"]
    assert decisions and all(r["action"] in ("continue", "stop") and "reason" in r for r in decisions)


def test_export_csv_to_stdout(run_dir, capsys):
    assert main(["export", str(run_dir), "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert rows and "event" in rows[0] and "t" in rows[0]


def test_report_writes_summary_trials_plots_and_html(run_dir, capsys):
    assert main(["report", str(run_dir), "--html"]) == 0
    out = capsys.readouterr().out
    assert "JCT" in out and "trials" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {"jct_s", "trials", "best", "concurrency"} <= set(summary)
    assert (run_dir / "trials.csv").is_file() and (run_dir / "report.html").is_file()
    assert list((run_dir / "plots").glob("*.png"))


def test_compare_two_runs(run_dir, tmp_path, capsys):
    assert main(["compare", str(run_dir), str(run_dir)]) == 0
    assert "JCT" in capsys.readouterr().out
