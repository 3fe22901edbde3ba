"""`run_experiment`: one experiment from config to summary, on a laptop, a cluster or inside a Ray job."""

from __future__ import annotations

from typing import Any, Optional

from rich.console import Console

from raybench.config import ExperimentConfig


def run_experiment(cfg: Optional[ExperimentConfig], run_dir: str, *, address: Optional[str] = None,
                   resume: bool = False, progress: bool = True, num_cpus: Optional[int] = None,
                   console: Optional[Console] = None) -> dict[str, Any]:
    """Run (or resume) an experiment into run_dir and return its summary (also written to summary.json)."""
    from raybench.events.derive import write_run_outputs
    from raybench.runtime._driver import Driver, RunOptions
    from raybench.runtime._resume import config_from_log

    console = console or Console()
    if resume:
        logged = config_from_log(run_dir)
        if cfg is not None and cfg.to_dict() != logged.to_dict():
            from raybench.errors import UserError

            raise UserError(f"{run_dir} was started with a different config; resume it without CONFIG")
        cfg = logged
    else:
        import os

        os.makedirs(run_dir, exist_ok=True)
    assert cfg is not None
    opts = RunOptions(run_dir=run_dir, address=address, resume=resume, progress=progress, num_cpus=num_cpus)
    Driver(cfg, opts, console).run()
    return write_run_outputs(run_dir)
