"""The Ray runtime: a thin shell of actors around the search core, the energy layer and the event log."""

from raybench.runtime._run import run_experiment

__all__ = ["run_experiment"]
