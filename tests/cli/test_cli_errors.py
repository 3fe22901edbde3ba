"""The CLI: user errors are one line on stderr with exit code 2, and never a traceback."""

import subprocess
import sys

import pytest

from raybench.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "raybench", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [
    ["validate", "nope.yaml"],
    ["run"],
    ["run", "nope.yaml"],
    ["bogus"],
    ["report", "/nonexistent/run"],
    ["export", "/nonexistent/run", "--format", "xml"],
    ["run", "--resume", "/nonexistent/run"],
])
def test_user_errors_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raybench") and "\n" not in err and "Traceback" not in err


def test_validate_ok_and_bad(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsearch_space: {}\n")
    assert main(["validate", "configs/baseline.yaml"]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["validate", "configs/baseline.yaml", str(bad)]) == 2


def test_existing_run_dir_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "events.msgpack").write_bytes(b"x")
    assert main(["run", "configs/quick.yaml", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "events.msgpack").read_bytes() == b"x"


def test_console_script_runs_as_a_module():
    r = run_cli("validate", "configs/quick.yaml")
    assert r.returncode == 0, r.stderr
    r = run_cli("run", "--bogus-flag")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
