"""Any Optuna sampler, driven through ask/tell on an in-memory study.

Optuna is optional (`pip install 'raybench[optuna]'`): this module imports it only when such a
sampler is built or checked, so raybench imports without it.

The study mirrors the trials the sampler knows, in trial-id order: a suggested trial is asked
(RUNNING until observed), a value is told (COMPLETE), a failure is told as FAIL. A restart
rebuilds the study from those records with `add_trial`, so the sampler's model sees the whole
history. When the sampler takes a `seed`, each trial gets a fresh instance seeded from
(seed, trial_id): a suggestion then depends on the seed, the trial id and the study only, not on
how many draws came before, so a rebuilt study suggests what the uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import logging
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Optional

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers._base import Config, Sampler, clip_float

INSTALL = "pip install 'raybench[optuna]'"
# Samplers whose extra packages optuna imports only at the first suggestion: checked up front instead.
_NEEDS = {"CmaEsSampler": ("cmaes",), "GPSampler": ("torch", "scipy"), "QMCSampler": ("scipy",)}
_NOT_STANDALONE = {"BaseSampler", "PartialFixedSampler"}  # abstract, or needs a sampler object as argument
# Samplers whose seed names a sequence that every trial continues (QMC's scrambling): one instance per run.
_ONE_INSTANCE = {"QMCSampler"}


def import_optuna() -> Any:
    """The optuna module, or a one-line ValueError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ValueError(f"sampler type optuna needs the optuna package, which is not installed; run {INSTALL}"
                         ) from None
    return optuna


def builtin_names() -> list[str]:
    """The sampler classes of optuna.samplers that can be built from options alone."""
    samplers = import_optuna().samplers
    return sorted(n for n in samplers.__all__ if n not in _NOT_STANDALONE and isinstance(getattr(samplers, n), type)
                  and issubclass(getattr(samplers, n), samplers.BaseSampler)
                  and not inspect.isabstract(getattr(samplers, n)))


def sampler_class(name: Any) -> type:
    """The class a name gives: one of optuna.samplers, or 'module:Class' for one of your own."""
    optuna = import_optuna()
    if not isinstance(name, str) or not name:
        raise ValueError(f"sampler.name must be an Optuna sampler's name or 'module:Class', got {name!r}")
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as e:  # ImportError, or whatever the module raises while it loads
            raise ValueError(f"cannot import module {module_name!r} ({type(e).__name__}: {_first_line(e)}); "
                             "check the module path") from None
        cls = getattr(module, attr, None)
        if cls is None:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}; check the class name")
    else:
        valid = builtin_names()
        if name not in valid:
            raise ValueError(f"unknown optuna sampler {name!r}; valid: {', '.join(valid)}, or 'module:Class'")
        cls = getattr(optuna.samplers, name)
        missing = [m for m in _NEEDS.get(name, ()) if importlib.util.find_spec(m) is None]
        if missing:
            raise ValueError(f"optuna's {name} needs {', '.join(missing)}, which is not installed; run {INSTALL}")
    if not (isinstance(cls, type) and issubclass(cls, optuna.samplers.BaseSampler)):
        raise ValueError(f"{name!r} is not a subclass of optuna.samplers.BaseSampler; name an Optuna sampler")
    return cls


def check_sampler(name: Any, options: Any) -> tuple[type, dict[str, Any]]:
    """The class and its options, checked by building it once; ValueError in one line otherwise."""
    cls = sampler_class(name)
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ValueError(f"sampler.options must map option names to values, got {options!r}")
    options = dict(options)
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = {n for n, p in params.items() if n != "self" and p.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"optuna sampler {name!r} has no option {', '.join(map(repr, unknown))}; "
                             f"valid: {', '.join(sorted(allowed)) or 'none'}")
    try:
        with _no_experimental_warning():
            cls(**options)
    except Exception as e:  # a third-party constructor may raise anything on a bad value
        raise ValueError(f"optuna sampler {name!r} refused options {options!r}: {type(e).__name__}: "
                         f"{_first_line(e)}; fix sampler.options") from None
    return cls, options


class OptunaSampler(Sampler):
    """An Optuna sampler (`name`, built with `options`) behind raybench's sampler interface.

    The experiment seed becomes the sampler's `seed` unless options set one; with an integer seed
    each trial is suggested by its own instance, seeded from (seed, trial_id).
    """

    def __init__(self, space: Mapping[str, sp.Param], *, seed: int = 0, mode: str = "max",
                 name: str = "TPESampler", options: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(space, seed=seed, mode=mode)
        self._optuna = import_optuna()
        self._name = name
        self._cls, self._options = check_sampler(name, {} if options is None else options)
        takes_seed = "seed" in inspect.signature(self._cls.__init__).parameters
        base = self._options.pop("seed", self._seed) if takes_seed else None
        per_trial = isinstance(base, (int, np.integer)) and self._cls.__name__ not in _ONE_INSTANCE
        self._base_seed: Optional[int] = int(base) if per_trial else None
        # Without an integer seed there is nothing to derive per trial: one instance serves every trial.
        self._shared = None if self._base_seed is not None else self._build(**(
            {"seed": base} if takes_seed else {}))
        self._dists = {n: to_distribution(p) for n, p in self._space.items()}
        self._results: dict[int, Optional[float]] = {}  # observed trials: value, or None when failed
        self._study: Any = None
        self._numbers: dict[int, int] = {}  # trial id -> the study's trial number
        self._stale = False  # replayed or re-observed trials: rebuild the study before the next ask
        self._once = _Once()

    @property
    def name(self) -> str:
        return self._name

    @property
    def study(self) -> Any:
        """The in-memory Optuna study that mirrors the known trials, for inspection: do not ask or tell it."""
        if self._study is None or self._stale:
            with self._quiet():
                self._rebuild(self._sampler_for(0))
        return self._study

    def _propose(self, trial_id: int) -> Config:
        sampler = self._sampler_for(trial_id)
        with self._quiet():
            if self._study is None or self._stale:
                self._rebuild(sampler)
            self._study.sampler = sampler
            try:
                trial = self._study.ask(self._dists)
            except Exception as e:
                self._stale = True  # the failed ask left a trial in the study that no trial id owns
                raise ValueError(f"optuna's {self._name} could not suggest trial {trial_id} for this search space: "
                                 f"{type(e).__name__}: {_first_line(e)}") from e
        self._numbers[trial_id] = trial.number
        return {n: from_optuna(p, trial.params[n]) for n, p in self._space.items()}

    def _on_config(self, trial_id: int, config: Config) -> None:
        if trial_id not in self._numbers:  # replayed: the study learns it at the next ask
            self._stale = True

    def _on_value(self, trial_id: int, value: Optional[float]) -> None:
        told = trial_id in self._results
        before = self._results.get(trial_id)
        self._results[trial_id] = value
        if self._stale or trial_id not in self._numbers:
            self._stale = True
            return
        if told:  # Optuna cannot tell a finished trial again: a changed value means a rebuild
            self._stale = before != value
            return
        state = self._optuna.trial.TrialState
        with self._quiet():
            if value is None:
                self._study.tell(self._numbers[trial_id], state=state.FAIL)
            else:
                self._study.tell(self._numbers[trial_id], value)

    def _rebuild(self, sampler: Any) -> None:
        """A new study holding every known trial in trial-id order, keeping what the sampler wrote on them."""
        optuna = self._optuna
        old = self._study.get_trials(deepcopy=False) if self._study is not None else []
        attrs = {t: old[n].system_attrs for t, n in self._numbers.items() if n < len(old)}
        study = optuna.create_study(direction="maximize" if self._mode == "max" else "minimize", sampler=sampler)
        numbers: dict[int, int] = {}
        state = optuna.trial.TrialState
        for trial_id in sorted(self._configs):
            if trial_id not in self._results:
                kind, value = state.RUNNING, None
            else:
                value = self._results[trial_id]
                kind = state.FAIL if value is None else state.COMPLETE
            params = {n: to_optuna(p, self._configs[trial_id][n]) for n, p in self._space.items()}
            study.add_trial(optuna.trial.create_trial(state=kind, value=value, params=params,
                                                      distributions=self._dists,
                                                      system_attrs=dict(attrs.get(trial_id, {}))))
            numbers[trial_id] = len(numbers)
        self._study, self._numbers, self._stale = study, numbers, False

    def _sampler_for(self, trial_id: int) -> Any:
        if self._base_seed is None:
            return self._shared
        seed = int(np.random.SeedSequence([self._base_seed, trial_id]).generate_state(1)[0])
        return self._build(seed=seed)

    def _build(self, **extra: Any) -> Any:
        with _no_experimental_warning():
            return self._cls(**self._options, **extra)

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Optuna's INFO lines off (raybench logs every trial itself), each warning shown once."""
        logger = logging.getLogger("optuna")
        level = logger.level
        logger.setLevel(max(level, logging.WARNING))
        handlers = list(logger.handlers)
        for h in handlers:
            h.addFilter(self._once)
        try:
            yield
        finally:
            for h in handlers:
                h.removeFilter(self._once)
            logger.setLevel(level)


class _Once(logging.Filter):
    """Lets each message through once: per-trial instances would repeat their warnings every trial.

    A warning that names the trial (as Optuna's fallback warnings do) differs per trial, so only
    the first such warning of a kind is kept: messages are compared with their digits removed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = "".join(c for c in record.getMessage() if not c.isdigit())
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


@contextlib.contextmanager
def _no_experimental_warning() -> Iterator[None]:
    """Optuna warns at every construction of an experimental class; we build one per trial."""
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield


# ---- raybench parameters <-> Optuna distributions --------------------------------------------------------

def to_distribution(param: sp.Param) -> Any:
    from optuna import distributions as d

    if isinstance(param, sp.Choice):
        # Optuna finds a choice with list.index, where 1 == 1.0 == True: such spaces go by position.
        return d.CategoricalDistribution(tuple(range(len(param.values))) if _ambiguous(param) else param.values)
    if isinstance(param, sp.IntRange):
        return d.IntDistribution(param.low, param.high, log=param.log)
    if isinstance(param, sp.LogUniform):
        return d.FloatDistribution(param.low, param.high, log=True)
    return d.FloatDistribution(param.low, param.high)


def to_optuna(param: sp.Param, value: sp.Scalar) -> Any:
    """A config value as Optuna's trial holds it."""
    if isinstance(param, sp.Choice) and _ambiguous(param):
        return next(i for i, v in enumerate(param.values) if v == value and type(v) is type(value))
    return value


def from_optuna(param: sp.Param, value: Any) -> sp.Scalar:
    """Optuna's value as a config value: the listed choice itself, a Python int, a float inside its bounds."""
    if isinstance(param, sp.Choice):
        return param.values[value] if _ambiguous(param) else value
    if isinstance(param, sp.IntRange):
        return int(value)
    return clip_float(param, float(value))


def _ambiguous(choice: sp.Choice) -> bool:
    values = choice.values
    return any(values[i] == values[j] for i in range(len(values)) for j in range(i))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
