"""YAML loading that remembers line numbers, and pydantic errors as one line per problem.

Every user-facing file (recipe, inventory) goes through `load_model(path, Model)`: a
syntax error, an unknown key, a wrong type or an impossible value becomes a
UserInputError whose problems read `FILE:LINE: field a.b: what is wrong; fix`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import UserInputError

M = TypeVar("M", bound=BaseModel)


def _line_map(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path (as pydantic loc tuples) to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[path + (key,)] = k.start_mark.line + 1
            _line_map(v, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + 1
            _line_map(v, path + (i,), out)
    return out


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML; return (data, line map). Syntax errors become UserInputError."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path}: file not found; check the path (relative to {Path.cwd()})")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, expected a YAML file")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        ctx = getattr(exc, "context", None)
        msg = f"{where}: YAML syntax error: {problem}"
        if ctx:
            msg += f" ({ctx})"
        raise UserInputError(msg + "; fix the indentation or quoting at that spot") from None
    lines = _line_map(node) if node is not None else {}
    return data, lines


def _loc_line(lines: dict[tuple, int], loc: tuple) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _fix_for(err: dict) -> str:
    t = err.get("type", "")
    if t == "extra_forbidden":
        return "remove it or check its spelling"
    if t == "missing":
        return "add it"
    if t.startswith(("int_", "float_")):
        return "give a number"
    if t.startswith("bool"):
        return "give true or false"
    if t in ("literal_error", "enum"):
        return "use one of the allowed values"
    if t.startswith(("string", "str")):
        return "give a text value"
    if t in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "change the value"
    return "correct the value"


def format_validation_error(exc: ValidationError, file: Path | str,
                            lines: dict[tuple, int] | None = None,
                            prefix: tuple = ()) -> list[str]:
    """One line per pydantic error: FILE:LINE: field a.b: message; fix."""
    lines = lines or {}
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        # pydantic adds union member / function names into loc; drop non-key parts
        key_loc = tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "tagged-union")))
        line = _loc_line(lines, key_loc)
        field = ".".join(str(p) for p in key_loc) or "(top level)"
        msg = err["msg"]
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        where = f"{file}:{line}" if line else f"{file}"
        problems.append(f"{where}: field {field}: {msg}; {_fix_for(err)}")
    return problems


def load_model(path: Path | str, model: type[M], *, context: dict | None = None) -> M:
    """Read a YAML file into a pydantic model; every problem is reported, one line each."""
    path = Path(path)
    data, lines = read_yaml(path)
    if data is None:
        raise UserInputError(f"{path}: the file is empty; see the examples in the README")
    if not isinstance(data, dict):
        raise UserInputError(f"{path}:1: expected a mapping of fields at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data, context={"file": path, **(context or {})})
    except ValidationError as exc:
        raise UserInputError(format_validation_error(exc, path, lines)) from None


def line_of(path: Path, loc: tuple) -> int | None:
    """Line of a key path in a YAML file (for problems found after validation)."""
    try:
        _, lines = read_yaml(path)
    except UserInputError:
        return None
    return _loc_line(lines, loc)
