"""The live progress display of `raybench run`: a rich bar on a terminal, a status line every 10 s elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


def _fmt_s(s: Optional[float]) -> str:
    if s is None:
        return "?"
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def describe(st: dict[str, Any]) -> str:
    """One line: done, running, pruned, failed, best so far, energy, elapsed and what remains."""
    done = st["completed"] + st["pruned"] + st["failed"]
    best = st.get("best")
    best_s = f"{best['value']:.4f} (trial {best['trial_id']})" if best else "-"
    energy = f" | {st['energy_j'] / 1000:.2f} kJ" if st.get("energy_j") is not None else ""
    expected = st.get("expected")
    eta = None
    if expected and done:
        eta = st["elapsed_s"] / done * max(expected - done, 0)
    total = f"/{expected}" if expected else ""
    return (f"trials {done}{total} done: {st['completed']} completed, {st['pruned']} pruned, {st['failed']} failed"
            f" | {st['running']} running | best {best_s}{energy} | elapsed {_fmt_s(st['elapsed_s'])}"
            f" | remaining ~{_fmt_s(eta)}")


class ProgressDisplay:
    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.console = console
        self.live = enabled and console.is_terminal
        self.enabled = enabled
        self._last_line = 0.0
        self._progress: Optional[Progress] = None
        self._task = None

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._progress = Progress(TextColumn("[bold]trials"), BarColumn(), TextColumn("{task.description}"),
                                      TimeElapsedColumn(), console=self.console, transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=None)
        return self

    def update(self, st: dict[str, Any]) -> None:
        if not self.enabled:
            return
        done = st["completed"] + st["pruned"] + st["failed"]
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=st.get("expected"),
                                  description=describe(st).split(" | ", 1)[1])
        elif time.time() - self._last_line >= 10:
            self._last_line = time.time()
            print(describe(st), file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """One line for the user (a trial that failed at the memory limit), above the bar if there is one."""
        if self._progress is not None:
            self._progress.console.print(f"[yellow]{text}[/]", soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
