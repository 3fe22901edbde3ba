"""Reading config files: YAML with line numbers, schema errors as one actionable line."""

from __future__ import annotations

import os
import reprlib
from collections.abc import Sequence
from typing import Any, Optional, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from raybench.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 2, 60, 60, 4, 4


def read_yaml(path: str) -> tuple[Any, Optional[yaml.Node]]:
    """The parsed document and its node tree (for line numbers). Raises ConfigError on any failure."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; check the path") from None
    except (OSError, ValueError) as e:  # a directory, no permission, a name too long, not UTF-8, a NUL byte
        raise ConfigError(f"{path}: cannot read it ({type(e).__name__}); pass a readable UTF-8 YAML file") from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = (e.problem or e.context or "invalid YAML").strip()
        raise ConfigError(f"{path}: bad YAML at {where}: {problem}; fix the syntax there") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: bad YAML: {str(e).splitlines()[0]}; fix the syntax") from None
    except (ValueError, RecursionError):
        raise ConfigError(f"{path}: a value is too long or nested too deep to read; shorten it") from None
    return data, node


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, instead of keeping the last silently."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                dup = key in seen
            except TypeError:
                continue
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {str(key)[:40]!r} is given twice in this mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _line_of(node: Optional[yaml.Node], loc: Sequence[Any]) -> Optional[int]:
    """The 1-based line of the deepest node along loc that exists."""
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
            if nxt is None:
                nxt = next((k for k, _ in node.value if getattr(k, "value", None) == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "literal_error": "",
    "union_tag_invalid": "",
    "union_tag_not_found": "add a 'type' key",
}


def format_error(path: str, err: ValidationError, node: Optional[yaml.Node]) -> str:
    """The first schema error as one line: file, line, field, value, and what to do."""
    e = err.errors()[0]
    loc = [p for p in e["loc"] if not (isinstance(p, str) and p in {"choice", "uniform", "loguniform", "int",
                                                                     "grid", "random", "tpe", "optuna", "none",
                                                                     "median", "percentile", "asha", "hyperband",
                                                                     "learning_curve"})]
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(node, loc)
    where = f"{path}:{line}" if line else path
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    kind = e["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key '{field}'; {_FIXES[kind]}"
    if kind == "missing":
        return f"{where}: '{field}' is required; add it"
    value = e.get("input")
    try:
        shown = _REPR.repr(value) if not isinstance(value, dict) else "{…}"
    except ValueError:  # an integer too long to print
        shown = "<a value too long to show>"
    fix = _FIXES.get(kind, "")
    more = f" ({len(err.errors()) - 1} more error(s) after fixing this)" if len(err.errors()) > 1 else ""
    return f"{where}: {field} = {shown}: {msg}" + (f"; {fix}" if fix else "") + more


def validate(model: type[M], data: Any, path: str, node: Optional[yaml.Node] = None) -> M:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_error(path, err, node)) from None


def load_config(path: str | os.PathLike):
    """Load and validate an experiment config file."""
    from raybench.config._schema import ExperimentConfig

    path = os.fspath(path)
    data, node = read_yaml(path)
    return validate(ExperimentConfig, data, path, node)
