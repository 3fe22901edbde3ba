"""The dashboard's HTTP side, over a real socket: nothing outside PATH can be reached (../ in any
spelling, symlinked runs, logs and audit files), it is read-only, a token guards every request when
given, the loopback-only default refuses foreign Host headers, and the event stream sends only what
changed. Also the CLI's one-line errors."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dash_helpers import served
from synth import synthetic_events, write_events

from raybench.cli._main import main
from raybench.dashboard import check_options, find_runs
from raybench.errors import UserError
from raybench.events import EventLog, make_event
from raybench.report.audit import audit


def _get(url: str, path: str, *, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/ holding run "a" and its audit; outside/ holding a run, a log and a secret file that symlinks in
    root point to."""
    tmp_path = tmp_path_factory.mktemp("tree")
    root, outside = tmp_path / "root", tmp_path / "outside"
    events_a = synthetic_events(6, seed=1)
    write_events(root / "a", events_a)
    (root / "a" / "audit.json").write_text(json.dumps(audit(events_a).to_dict()))
    write_events(outside / "secret-run", synthetic_events(3, seed=9, name="secret"))
    (outside / "secret.txt").write_text("top secret")
    (root / "link-out").symlink_to(outside / "secret-run", target_is_directory=True)
    (root / "b").mkdir()
    (root / "b" / "events.msgpack").symlink_to(outside / "secret-run" / "events.msgpack")
    write_events(root / "c", synthetic_events(2, seed=3))
    (root / "c" / "audit.json").symlink_to(outside / "secret.txt")
    (root / "link-in").symlink_to(root / "a", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def tree_url(tree: Path):
    with served(tree) as url:
        yield url


def test_runs_are_found_only_inside_path(tree: Path) -> None:
    found = find_runs(tree.resolve())
    assert sorted(found) == ["a", "c", "link-in"]  # link-in stays inside root; link-out and b point outside
    assert find_runs((tree / "a").resolve()) == {".": (tree / "a").resolve()}  # PATH may be the run itself


@pytest.mark.parametrize("path", [
    "/static/../_server.py", "/static/..%2f_server.py", "/static/%2e%2e%2f%2e%2e%2fsetup.cfg", "/../outside/secret.txt",
    "/%2e%2e/outside/secret.txt", "/static/..%5c_server.py", "/static/app.js%00.py", "/a/events.msgpack",
    "/api/run?id=../outside/secret-run", "/api/run?id=link-out", "/api/run?id=b", "/api/run?id=/etc",
    "/api/run?id=a/../../outside/secret-run", "/api/compare?id=a&id=link-out", "/api/stream?id=link-out",
])
def test_nothing_outside_path_is_served(tree_url: str, path: str) -> None:
    status, _, body = _get(tree_url, path)
    assert status in (400, 404), (path, status)
    for leak in (b"top secret", b'"name":"secret"', b"from __future__", b"[metadata]"):
        assert leak not in body, (path, body[:200])


def test_the_api_serves_runs_and_keeps_symlinked_audit_out(tree_url: str) -> None:
    status, headers, body = _get(tree_url, "/api/runs")
    assert status == 200 and "default-src 'none'" in headers["Content-Security-Policy"]
    runs = {r["id"]: r for r in json.loads(body)["runs"]}
    assert sorted(runs) == ["a", "c", "link-in"]
    assert runs["a"]["has_audit"] and not runs["c"]["has_audit"]
    run = json.loads(_get(tree_url, "/api/run?id=a")[2])
    stops = [e for e in synthetic_events(6, seed=1) if e["event"] == "decision" and e["action"] == "stop"]
    assert run["audit"]["totals"]["stops"] == len(stops) > 0
    assert [r["trial_id"] for r in run["audit"]["rows"]] == [e["trial_id"] for e in stops]
    assert len(run["trials"]) == 6 and run["summary"]["counts"]["total"] == 6
    assert _get(tree_url, "/")[0] == 200 and _get(tree_url, "/static/uPlot.iife.min.js")[0] == 200
    assert _get(tree_url, "/static/uPlot.LICENSE")[2].startswith(b"The MIT License")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_it_is_read_only(tree_url: str, method: str) -> None:
    assert _get(tree_url, "/api/runs", method=method)[0] == 405
    assert _get(tree_url, "/", method=method)[0] == 405


def test_without_a_token_only_loopback_host_names_are_answered(tree_url: str) -> None:
    assert _get(tree_url, "/api/runs", headers={"Host": "evil.example:8266"})[0] == 403
    assert _get(tree_url, "/api/runs", headers={"Host": "localhost:8266"})[0] == 200


def test_with_a_token_every_request_must_carry_it(tree: Path) -> None:
    token = "s3cret-token-123"
    with served(tree, token=token) as url:
        for path in ("/", "/api/runs", "/static/app.js", "/api/run?id=a", "/api/stream"):
            assert _get(url, path)[0] == 401, path
            assert _get(url, path, headers={"Authorization": "Bearer wrong-token-999"})[0] == 401, path
        assert _get(url, "/api/runs", headers={"Authorization": f"Bearer {token}"})[0] == 200
        assert _get(url, "/api/runs", headers={"Host": "evil.example", "X-Raybench-Token": token})[0] == 200
        status, headers, _ = _get(url, f"/?token={token}")
        assert status == 200 and "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        cookie = headers["Set-Cookie"].split(";")[0]
        assert _get(url, "/static/app.js", headers={"Cookie": cookie})[0] == 200
        assert _get(url, "/api/runs", headers={"Cookie": "raybench_dashboard=nope-nope-nope"})[0] == 401


def _sse(resp: http.client.HTTPResponse) -> tuple[str, dict]:
    kind, data = "", ""
    while True:
        line = resp.readline().decode()
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "\n" and kind:
            return kind, json.loads(data)


def test_the_stream_sends_the_run_then_only_what_changed(tmp_path: Path) -> None:
    events = synthetic_events(6, seed=4, ended=False)
    log = EventLog.open(write_events(tmp_path / "r", []) / "events.msgpack", resume=True)
    for e in events:
        log.append(e, sync=False)
    try:
        with served(tmp_path) as url:
            u = urlsplit(url)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            conn.request("GET", "/api/stream?id=r")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
            seen: dict[str, dict] = {}
            while "run" not in seen:
                kind, data = _sse(resp)
                seen[kind] = data
            assert [r["id"] for r in seen["runs"]["runs"]] == ["r"]
            assert len(seen["run"]["trials"]) == 6 and seen["run"]["since"] == 0
            log.append(make_event("trial_created", t=events[-1]["t"] + 1, trial_id=6, config={"lr": 0.1}), sync=False)
            while True:
                kind, data = _sse(resp)
                if kind == "run":
                    break
            assert [t["id"] for t in data["trials"]] == [6] and data["since"] == seen["run"]["version"]
            conn.close()
    finally:
        log.close()


def test_bad_options_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYBENCH_DASHBOARD_TOKEN", raising=False)
    (tmp_path / "f.txt").write_text("x")
    cases = [
        ([str(tmp_path / "missing")], "no such folder"),
        ([str(tmp_path / "f.txt")], "not a folder"),
        ([str(tmp_path), "--host", "0.0.0.0"], "pass --token"),
        ([str(tmp_path), "--port", "70000"], "--port must be between"),
        ([str(tmp_path), "--port", "eighty"], "invalid int value"),
        ([str(tmp_path), "--token", "short"], "at least 8 characters"),
    ]
    for argv, text in cases:
        assert main(["dashboard", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err and "Traceback" not in err, err
    monkeypatch.setenv("RAYBENCH_DASHBOARD_TOKEN", "from-the-environment")
    assert check_options(str(tmp_path), host="0.0.0.0", port=8266, token=None)[1] == "from-the-environment"
    assert check_options(str(tmp_path), host="::1", port=8266, token="")[1] == ""  # the empty flag wins
    with pytest.raises(UserError, match="pass --token"):
        check_options(str(tmp_path), host="192.168.1.5", port=8266, token="")
    assert os.environ["RAYBENCH_DASHBOARD_TOKEN"]  # untouched
