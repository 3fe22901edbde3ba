"""The HTML page's tables stay a readable size: the audit table is cut like the trials and stops tables."""

from __future__ import annotations

from raybench.report.html import MAX_TABLE_ROWS, audit_table
from raybench.report.plots import PlotSet


def _audit(n: int) -> dict:
    rows = [{"trial_id": i, "step": 1, "rule": "asha", "value": 0.5, "cutoff": 0.6, "probability": None,
             "saved_s": 1.0, "saved_j": 2.0, "would_have_final": None, "wrong": None} for i in range(n)]
    return {"basis": "estimated", "rows": rows, "totals": {"stops": n, "saved_j": 2.0 * n, "saved_s": 1.0 * n,
                                                          "wrong_rate": None, "regret": 0.0}}


def _plots(n: int) -> PlotSet:
    return PlotSet(plots=(), notes={}, energy=None, provenance="none", audit=_audit(n))


def test_an_audit_of_more_stops_than_the_cap_shows_the_first_rows_and_says_where_the_rest_are() -> None:
    n = MAX_TABLE_ROWS + 7
    page = audit_table(_plots(n))
    assert page.count("<tr>") == MAX_TABLE_ROWS + 1  # the header and the first MAX_TABLE_ROWS stops
    assert f"The first {MAX_TABLE_ROWS:,} of {n:,} audited stops" in page
    assert "audit.json" in page
    assert f"{n} stops saved" in page  # the totals still count every stop


def test_an_audit_under_the_cap_is_shown_whole_without_a_note() -> None:
    page = audit_table(_plots(3))
    assert page.count("<tr>") == 4
    assert "The first" not in page
