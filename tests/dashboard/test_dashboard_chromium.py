"""The dashboard in a real headless Chromium while a synthetic run is being written.

A background thread appends the second half of a run's events through raybench's EventLog writer after
the run page has opened. The test checks that the run list and the run page render with no console
error (console.error/assert, uncaught exceptions, error log entries such as CSP violations and failed
loads, Chromium's own CONSOLE lines, and requests to anywhere but the dashboard); that the last trial,
which ends after the page opened, appears in the trial table without a reload (a marker set on `window`
survives); that the run's audit.json (raybench.report.audit's output) is drawn and tabulated; that the pruning timeline shows a stop's reason on its marker's hover text and, on click, in
the detail box; and that the compare page overlays two runs and tabulates them. With
RAYBENCH_DASHBOARD_SHOTS=DIR it also saves screenshots of the run and compare pages at desktop
(1600 px) and laptop (1280 px) widths. Chromium comes from the report tests' fixture (skips without it);
one browser serves the module, and its stderr log must hold no CONSOLE line when it closes.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))

from dash_helpers import served  # noqa: E402
from synth import LiveWriter, synthetic_events, write_events  # noqa: E402
from test_report_html_chromium import Browser, chromium, console_lines  # noqa: E402, F401

from raybench.report.audit import audit  # noqa: E402

SHOTS = os.environ.get("RAYBENCH_DASHBOARD_SHOTS")
WIDTHS = {"desktop": (1600, 1000), "laptop": (1280, 800)}


def _until(browser: Browser, session: str, expr: str, timeout_s: float = 10.0) -> Any:
    """Poll a page expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = browser.evaluate(session, expr)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _problems(browser: Browser, session: str, url: str) -> list[str]:
    return [p for p in browser.problems(session) if not p.startswith("request: " + url)]


def _shot(browser: Browser, session: str, name: str) -> None:
    if not SHOTS:
        return
    for label, (w, h) in WIDTHS.items():
        browser.send("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1,
                                                             "mobile": False}, session=session)
        time.sleep(0.6)  # the page re-lays its charts out on resize
        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        (Path(SHOTS) / f"dashboard-{name}-{label}.png").write_bytes(base64.b64decode(shot["data"]))
    browser.send("Emulation.clearDeviceMetricsOverride", session=session)


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """One Chromium for the module (each test opens its own tabs); its log is checked at the end."""
    b = Browser(chromium, tmp_path_factory.mktemp("chromium"))
    yield b
    assert console_lines(b.close()) == []


def test_dashboard_follows_a_run_in_chromium(browser: Browser, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_events(root / "suite" / "asha-s0", synthetic_events(24, seed=1, name="asha"))
    write_events(root / "suite" / "median-s0", synthetic_events(24, seed=2, name="median", pruner="median"))
    events = synthetic_events(16, seed=3, name="live", ended=False)
    last = max(e["trial_id"] for e in events if e["event"] == "trial_completed")
    cut = next(i for i, e in enumerate(events) if e["event"] == "trial_created" and e["trial_id"] == last)
    go = threading.Event()
    writer = LiveWriter(root / "live", events[:cut], events[cut:], delay_s=0.01, go=go)
    found = audit(events[:cut]).to_dict()
    (root / "live" / "audit.json").write_text(json.dumps(found))
    writer.start()
    with served(root) as url:
        session = browser.open(url)
        ids = _until(browser, session, "Array.from(document.querySelectorAll('#runs tr[data-run]')).map(r => r.dataset.run)")
        assert sorted(ids) == ["live", "suite/asha-s0", "suite/median-s0"]

        browser.evaluate(session, "window.__marker = 'no reload'; location.hash = '#/run/live'")
        assert _until(browser, session, "document.querySelectorAll('#trials tbody tr').length > 0")
        assert browser.evaluate(session, f"!!document.querySelector('#trials tr[data-trial=\"{last}\"]')") is False
        go.set()
        t_go = time.monotonic()
        row = f"document.querySelector('#trials tr[data-trial=\"{last}\"] .badge')"
        status = _until(browser, session, f"{row} && ['completed', 'pruned'].includes({row}.textContent) && {row}.textContent")
        print(f"\ntrial {last} ended in the table {time.monotonic() - t_go:.2f} s after its events started to be written")
        assert status in ("completed", "pruned")
        assert writer.done.wait(10)
        assert browser.evaluate(session, "window.__marker") == "no reload"
        assert _until(browser, session, "document.querySelectorAll('#best-time canvas, #power canvas, #energy canvas').length >= 3")

        stops = browser.evaluate(session, "Array.from(document.querySelectorAll('#timeline g.stop')).map(g => [g.dataset.trial, g.querySelector('title').textContent])")
        assert stops, "the timeline shows no stop"
        tid, hover = stops[0]
        assert hover.startswith(f"trial {tid} stopped: asha, rung ") and "cutoff" in hover and "peers" in hover
        browser.evaluate(session, "document.querySelector('#timeline g.stop').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        detail = browser.evaluate(session, "document.getElementById('stop-detail').innerText")
        stop = next(e for e in events if e["event"] == "decision" and e["action"] == "stop" and e["trial_id"] == int(tid))
        assert f"Trial {tid} stopped" in detail and stop["reason"]["detail"] in detail
        assert browser.evaluate(session, "document.getElementById('p-audit').hidden") is False
        assert browser.evaluate(session, "document.querySelectorAll('#audit-stops tbody tr').length") == len(found["rows"]) > 0
        assert browser.evaluate(session, "document.querySelectorAll('#audit-saved canvas').length") == 1
        _shot(browser, session, "run")
        assert _problems(browser, session, url) == []

        browser.evaluate(session, "location.hash = '#/compare/suite%2Fasha-s0,suite%2Fmedian-s0'")
        heads = _until(browser, session, "document.querySelectorAll('#compare thead th').length === 3 && "
                                         "Array.from(document.querySelectorAll('#compare thead th')).map(t => t.textContent)")
        assert heads and heads[1:] == ["  asha", "  median"] or [h.strip() for h in heads[1:]] == ["asha", "median"]
        assert _until(browser, session, "document.querySelectorAll('#cmp-time canvas').length > 0")
        legend = browser.evaluate(session, "Array.from(document.querySelectorAll('#cmp-time .u-legend th')).map(t => t.textContent)")
        assert any("asha" in x for x in legend) and any("median" in x for x in legend), legend
        _shot(browser, session, "compare")
        assert _problems(browser, session, url) == []


def test_empty_folder_and_damaged_log_say_so(browser: Browser, tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    with served(root) as url:
        session = browser.open(url)
        text = _until(browser, session, "document.querySelector('.notice') && document.querySelector('.notice').innerText")
        assert "No runs here yet" in text
        assert _problems(browser, session, url) == []
    bad = tmp_path / "bad"
    (bad / "junk").mkdir(parents=True)
    (bad / "junk" / "events.msgpack").write_text("this is not an event log\n")
    with served(bad) as url:
        session = browser.open(url + "#/run/junk")
        text = _until(browser, session, "document.querySelector('.notice.error') && document.querySelector('.notice.error').innerText")
        assert "This log cannot be read" in text and "not a raybench event log" in text
        assert _problems(browser, session, url) == []
