"""raybench: hyperparameter optimization on Ray that measures what every trial costs."""

__version__ = "0.1.0"

__all__ = ["__version__"]
