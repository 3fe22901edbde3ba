"""The terminal summary shows an estimate's range wherever it shows the estimate."""

import io

from rich.console import Console

from raybench.events.derive import section_energy
from raybench.events.sample import sample_events
from raybench.report._terminal import print_summary


def _text(energy):
    buf = io.StringIO()
    print_summary({"name": "x", "energy": energy}, console=Console(file=buf, width=200))
    return buf.getvalue()


def test_estimated_totals_show_their_range():
    events = sample_events(ended=True)
    for e in events:
        if e["event"] == "energy_sample":
            e["provenance"] = {**e["provenance"], "cpu": "estimated"}
            e["estimate_range"] = {"cpu": [0.5, 2.0]}
    energy = section_energy(events)["energy"]
    out = _text(energy)
    assert f"range {energy['total_j_low']:.4g}–{energy['total_j_high']:.4g} J, estimated" in out
    assert "g CO2 (range" in out and "accounting check" in out and "balance" not in out


def test_measured_totals_show_no_range_and_old_summaries_still_print():
    energy = section_energy(sample_events(ended=True))["energy"]
    energy.pop("total_j_low", None)
    out = _text(energy)
    assert "range" not in out
    old = {k: v for k, v in energy.items() if k != "accounting_check"}
    assert "accounting check" in _text(old)
