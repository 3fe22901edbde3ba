"""The collector pause around reading a whole log: off inside, restored after, and derive's output unchanged."""

from __future__ import annotations

import gc
import json

import pytest

from raybench.events import EventLog, gc_paused, write_run_outputs
from raybench.events.sample import sample_events


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_and_back_on_after(collector_on) -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the inner exit must not switch it back on early
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_restores_the_collector(collector_on) -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_derive_gives_the_same_outputs_with_the_collector_paused_or_not(tmp_path, collector_on) -> None:
    outputs = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        with EventLog.open(d / "events.msgpack") as log:
            for e in sample_events():
                log.append(e)
        if name == "a":
            summary = write_run_outputs(d)
        else:
            gc.disable()  # derive under an outer pause: what it writes must not depend on the collector
            try:
                summary = write_run_outputs(d)
            finally:
                gc.enable()
        assert gc.isenabled()
        outputs.append((json.dumps(summary, sort_keys=True), (d / "trials.csv").read_text()))
    assert outputs[0] == outputs[1]
