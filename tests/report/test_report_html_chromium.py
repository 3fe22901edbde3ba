"""The HTML report, read as text and rendered by a real headless Chromium.

Without a browser: the page is one file with no <script>, every src/href is a data: URI or an in-page
anchor, every embedded PNG decodes, the three tables are there, hostile config text is escaped, a run
without energy samples says so, and summary.json's energy section (two layouts) is shown.

In Chromium (Debian's `chromium`; installed with apt-get where it is missing and we are root, else the
tests skip and say why): the browser is driven over the DevTools protocol on --remote-debugging-pipe (no
port, no extra packages) and opens RUN_DIR/report.html from a file:// URL. After the load event the test
evaluates in the page that every <img> decoded (complete, naturalWidth/naturalHeight > 0, a
data:image/png src, an alt text) and is laid out wider than 100 CSS px; that the summary, stop and trial
tables have the expected row counts; that the page holds no <script> element and shows the hostile config
text literally; and that the seven sections are there. A full-page screenshot must have more than 200
colours (not blank). There must be no console problem, gathered four ways: Runtime.consoleAPICalled
(error/assert), Runtime.exceptionThrown, Log.entryAdded at level error (where Chromium reports CSP
violations and failed loads), CONSOLE/Uncaught lines in Chromium's stderr log; and no request for other
than a file: or data: URL. A probe page (console.error, uncaught error, broken and external image) shows
each of these checks can fail, and a report copy with an external image slipped in shows that the page's
Content-Security-Policy blocks the request. Not checked: how the page looks beyond "not blank", layout at
other widths, other browsers, printing.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from raybench.report.html import REPORT_FILE, write_report

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
APT_TIMEOUT_S = 900
CDP_TIMEOUT_S = 30.0


# --- without a browser -------------------------------------------------------------------------------


def _imgs(page: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", page)


def test_report_is_one_self_contained_file(rich_run: Path, hostile_text: tuple[str, str]) -> None:
    path = write_report(rich_run)
    assert path == str(rich_run / REPORT_FILE)
    page = Path(path).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    imgs = _imgs(page)
    # The six of every run with energy and a stop, and the audit of that stop (no Pareto plot: one objective).
    assert len(imgs) == 7 == len(list((rich_run / "plots").glob("*.png")))
    for tag in imgs:
        src = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', tag)
        assert src, tag[:80]
        with Image.open(io.BytesIO(base64.b64decode(src.group(1)))) as im:
            im.load()
        assert re.search(r'alt="[^"]{20,}"', tag)
    # Nothing outside the file is referenced: no src/href but data: URIs and in-page anchors.
    for attr in re.findall(r'\b(?:src|href)="([^"]*)"', page):
        assert attr.startswith(("data:", "#")), attr
    for table_id in ("summary-table", "stops", "audit-table", "trials"):
        assert f'<table id="{table_id}"' in page
    for text in hostile_text:
        assert text not in page and html.escape(text, quote=True) in page


def test_report_without_energy_says_so(bare_run: Path) -> None:
    page = Path(write_report(bare_run)).read_text(encoding="utf-8")
    assert "not measured: the log has no energy samples" in page
    assert page.count("Not drawn: the log has no energy samples, so best-so-far is plotted against time only.") == 1
    assert "Not drawn: the log has no energy samples." in page  # node power
    assert len(_imgs(page)) == 4  # anytime, pruning timeline, stopped configs, audit of the stop


SIMPLE_ENERGY = {
    "total_j": 3406.0, "provenance": {"cpu": "measured", "dram": "measured", "gpu": "none"},
    "buckets": {"trials_j": 2000.0, "idle_reserved_j": 900.0, "unattributed_j": 506.0},
    "waste": {"energy_j": 600.0, "energy_fraction": 0.2, "time_s": 12.0},
    "cost": {"total": 0.0123, "currency": "USD"}, "carbon_g": 0.7,
    "per_trial": [{"trial_id": t, "total_j": 100.0 * (t + 1)} for t in range(5)],
}
# The layout raybench.events._energy writes: raybench.energy.metrics' figures, spread and nested.
METRICS_ENERGY = {
    "total_j": 3406.0, "trials_j": 2000.0, "idle_reserved_j": 900.0, "unattributed_j": 506.0,
    "buckets": {"trials_j": 2000.0, "idle_reserved_j": 900.0, "unattributed_j": 506.0, "total_j": 3406.0},
    "balance": {"abs_error_j": 0.0, "rel_error": 0.0},
    "provenance": {"cpu": "measured", "dram": "measured", "gpu": "none", "energy": "measured"},
    "per_trial": [{"trial_id": t, "status": "completed", "energy_j": {"total": 100.0 * (t + 1), "with_idle": 1.0}}
                  for t in range(5)],
    "waste": {"energy_j": 600.0, "energy_fraction": 0.2, "time_s": 12.0, "by_reason": {"pruned": {"n": 1}}},
    "cost": {"currency": "USD", "total": 0.0123, "by_resource": {"cpu": 0.01}},
    "carbon": {"kwh": 0.001, "pue": 1.58, "g_per_kwh": 475.0, "co2e_g": 0.7},
    "anytime": [{"order": 1, "energy_j": 10.0}], "n_samples": 62,
}


@pytest.mark.parametrize("energy", [SIMPLE_ENERGY, METRICS_ENERGY], ids=["simple", "metrics"])
def test_report_reads_the_energy_section_of_summary_json(rich_run: Path, energy: dict) -> None:
    (rich_run / "summary.json").write_text(json.dumps({"energy": energy}))
    page = Path(write_report(rich_run)).read_text(encoding="utf-8")
    for text in ("3406 J  (", "cpu measured, dram measured)", "trials_j 2000 J", "600 J (20.0%), 12.0 s trial time",
                 "0.0123 USD", "0.7 g CO2e", "Bar chart of attributed joules", "largest 500 J"):
        assert text in page, text
    assert "(approx.)" not in page
    assert "energy, every figure" in page


# --- in Chromium -------------------------------------------------------------------------------------


def _find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path; installs Debian's package with apt-get when it is missing and we may."""
    found = _find_chromium()
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and apt-get is not available to install it")
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed, and installing it with apt-get needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                pytest.skip(f"chromium is not installed and `{' '.join(cmd)}` failed: {' | '.join(tail)}")
    except subprocess.TimeoutExpired:
        pytest.skip(f"chromium is not installed and apt-get did not finish in {APT_TIMEOUT_S} s")
    return _find_chromium() or pytest.skip("apt-get installed chromium but no chromium binary is on PATH")


class Browser:
    """Headless Chromium driven over the DevTools protocol on --remote-debugging-pipe: JSON messages, each
    ended by a NUL byte, written to the browser's fd 3 and read from its fd 4."""

    def __init__(self, chromium: str, tmp: Path) -> None:
        self.stderr_path = tmp / "chromium-stderr.log"
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
            f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0", "--window-size=1280,900",
            "--remote-debugging-pipe", "about:blank",
        ]
        # The shell moves the pipes from stdin/stdout to fds 3 and 4, where Chromium expects them.
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(["sh", "-c", 'exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null', chromium, *flags],
                                         stdin=cmd_r, stdout=res_w, stderr=err)
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._next_id = 0
        self._closed = False
        self.events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._res_r], [], [], left)[0]:
                raise TimeoutError(f"no DevTools message from chromium in time; see {self.stderr_path}")
            chunk = os.read(self._res_r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the DevTools pipe; see {self.stderr_path}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def wait(self, pred: Any, timeout_s: float = CDP_TIMEOUT_S) -> dict[str, Any]:
        """The first message matching pred, from the events seen so far or arriving next."""
        for m in self.events:
            if pred(m):
                return m
        deadline = time.monotonic() + timeout_s
        while True:
            m = self._read(deadline)
            if "id" not in m:
                self.events.append(m)
            if pred(m):
                return m

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        msg_id = self._next_id
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        reply = self.wait(lambda m: m.get("id") == msg_id)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply["result"]

    def open(self, url: str) -> str:
        """A new tab with console, log, network and page events on; navigates to url and waits for load."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable", session=session)
        nav = self.send("Page.navigate", {"url": url}, session=session)
        assert not nav.get("errorText"), nav
        self.wait(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                           session=session)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"]["value"]

    def problems(self, session: str) -> list[str]:
        """Console errors, uncaught exceptions, error log entries, and requests for other than file:/data:
        URLs (those the page's CSP blocked are told apart)."""
        out = []
        blocked = {m["params"]["requestId"] for m in self.events if m.get("method") == "Network.loadingFailed"
                   and m["params"].get("blockedReason") == "csp"}
        for m in self.events:
            if m.get("sessionId") != session:
                continue
            p, method = m.get("params", {}), m.get("method")
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console." + p["type"] + ": " + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} ({p['entry'].get('url', '')})")
            elif method == "Network.requestWillBeSent" and not p["request"]["url"].startswith(("file:", "data:")):
                # Chromium announces a request before its CSP check; a blocked one never leaves the browser.
                how = "request blocked by CSP: " if p["requestId"] in blocked else "request: "
                out.append(how + p["request"]["url"])
        return out

    def close(self) -> str:
        """Close the browser (once; later calls only read the log) and return its stderr log."""
        if not self._closed:
            self._closed = True
            try:
                # Written without waiting for the reply: the browser may exit before it sends one.
                os.write(self._cmd_w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            os.close(self._cmd_w)
            os.close(self._res_r)
        return self.stderr_path.read_text(errors="replace")


PAGE_FACTS = """(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return {
    images: imgs.map(i => ({src: i.getAttribute("src").slice(0, 22), complete: i.complete, w: i.naturalWidth,
                            h: i.naturalHeight, alt: i.alt, shown_w: i.getBoundingClientRect().width})),
    tables: Object.fromEntries(Array.from(document.querySelectorAll("table[id]"))
                               .map(t => [t.id, t.tBodies.length ? t.tBodies[0].rows.length : 0])),
    scripts: document.scripts.length,
    sections: Array.from(document.querySelectorAll("section h2")).map(h => h.textContent),
    text: document.body.innerText,
  };
})()"""


def console_lines(stderr: str) -> list[str]:
    """Chromium's own log lines about page console messages and uncaught errors."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]


def screenshot_colors(browser: Browser, session: str) -> int:
    shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
    with Image.open(io.BytesIO(base64.b64decode(shot["data"]))) as im:
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colors) if colors is not None else 1 << 20


@pytest.fixture
def browser(chromium: str, tmp_path: Path):
    b = Browser(chromium, tmp_path)
    yield b
    b.close()


def test_the_checks_catch_errors_and_the_page_policy_blocks_requests(browser: Browser, tmp_path: Path,
                                                                       bare_run: Path) -> None:
    """The checks can fail: a probe page with a console.error, an uncaught error, a broken and an external
    image trips every channel. And a report with an external image slipped in makes no request: its
    Content-Security-Policy blocks it and Chromium logs the violation as an error."""
    probe = tmp_path / "probe.html"
    probe.write_text('<!DOCTYPE html><html><body><img alt="x" src="data:image/png;base64,AAAA">'
                     '<img alt="y" src="http://example.invalid/a.png">'
                     '<script>console.error("probe error"); notDefined()</script></body></html>')
    session = browser.open(probe.as_uri())
    facts = browser.evaluate(session, PAGE_FACTS)
    assert [i["w"] for i in facts["images"]] == [0, 0]
    found = browser.problems(session)
    for prefix in ("console.error: probe error", "exception: ", "request: http://example.invalid/a.png"):
        assert any(p.startswith(prefix) for p in found), (prefix, found)

    page = Path(write_report(bare_run)).read_text(encoding="utf-8")
    leaky = bare_run / "leaky.html"
    leaky.write_text(page.replace("<main>", '<main><img alt="z" src="http://example.invalid/b.png">'), encoding="utf-8")
    session = browser.open(leaky.as_uri())
    found = browser.problems(session)
    assert "request blocked by CSP: http://example.invalid/b.png" in found, found
    assert not any(p.startswith("request:") for p in found), found
    assert any("Content Security Policy" in p for p in found), found
    assert len(console_lines(browser.close())) >= 2


def test_report_renders_in_chromium(browser: Browser, rich_run: Path, hostile_text: tuple[str, str]) -> None:
    report = Path(write_report(rich_run))
    session = browser.open(report.as_uri())
    facts = browser.evaluate(session, PAGE_FACTS)

    assert len(facts["images"]) == 7
    for img in facts["images"]:
        assert img["src"] == "data:image/png;base64,", img
        assert img["complete"] and img["w"] > 300 and img["h"] > 150, img
        assert img["shown_w"] > 100 and len(img["alt"]) > 20, img
    assert facts["tables"]["summary-table"] >= 10
    assert facts["tables"]["stops"] == 2
    assert facts["tables"]["trials"] == 6
    assert facts["scripts"] == 0
    assert facts["sections"] == ["Summary", "Anytime performance", "Energy per trial", "Pruning",
                                 "Audit of the stops", "Stopped configurations", "Pareto front", "Node power",
                                 "Trials"]
    assert facts["tables"]["audit-table"] == 2  # both stops of the sample run were the pruner's
    for text in hostile_text:
        assert text in facts["text"]  # shown as the literal text the user wrote
    assert screenshot_colors(browser, session) > 200
    assert browser.problems(session) == []
    assert console_lines(browser.close()) == []
