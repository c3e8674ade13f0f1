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
# libyaml's parser when PyYAML was built with it (the wheels are): the same nodes, marks and errors
# as the pure-Python one, about ten times faster on a recipe
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


MAX_BYTES = 256 * 1024        # recipes and inventories are a few KB; more is the wrong file
MAX_NODES = 20_000            # after alias expansion: a YAML "billion laughs" stops here
MAX_DEPTH = 40                # nesting levels


def _read_text(path: Path) -> str:
    """The file as UTF-8 text, refusing what cannot be a recipe: too big, binary, not UTF-8."""
    if not path.exists():
        raise UserInputError(f"{path}: file not found; check the path (relative to {Path.cwd()})")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, expected a YAML file")
    if not path.is_file():
        raise UserInputError(f"{path}: is not a regular file (a device or pipe?); give a YAML file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise UserInputError(f"{path}: is {size / 1024:.0f} KB; a YAML recipe or inventory is at most "
                             f"{MAX_BYTES // 1024} KB, so this is probably the wrong file")
    data = path.read_bytes()
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise UserInputError(f"{path}:{line}: holds NUL bytes: a binary file, not YAML; give the YAML file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserInputError(f"{path}:{line}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                             f"{exc.start}); save the file as UTF-8") from None


def _check_size(path: Path, root: yaml.Node) -> None:
    """Refuse alias bombs and deep nesting before anything walks the tree (memoised, so cheap)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise UserInputError(f"{path}:{node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep; "
                                 "a recipe or inventory needs a handful, so flatten it")
        kids = [n for kv in node.value for n in kv] if isinstance(node, yaml.MappingNode) else \
            list(node.value) if isinstance(node, yaml.SequenceNode) else []
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(k)] for k in kids)
            if sizes[id(node)] > MAX_NODES:
                raise UserInputError(f"{path}:{node.start_mark.line + 1}: expands to more than {MAX_NODES} "
                                     "values (YAML aliases, *name, multiply what they copy); remove the aliases")
            continue
        if id(node) in sizes:
            continue
        stack.append((node, depth, True))
        stack.extend((k, depth + 1, False) for k in kids if id(k) not in sizes)


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML; return (data, line map). Syntax errors and hostile files become UserInputError."""
    path = Path(path)
    text = _read_text(path)
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is not None:
            _check_size(path, node)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a safe loader: plain data only)
    except RecursionError:
        raise UserInputError(f"{path}: nested too deeply to read; a recipe or inventory needs a handful "
                             "of levels, so flatten it") from None
    except yaml.YAMLError as exc:
        if "nesting depth" in str(getattr(exc, "problem", "") or exc):   # libyaml's own depth limit
            raise UserInputError(f"{path}: nested too deeply to read; a recipe or inventory needs a handful "
                                 "of levels, so flatten it") from None
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


_SELF_EXPLAINED = ("recipe_value", "ssh_target", "_renamed")   # custom errors whose message already says the fix


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
    if t == "finite_number":
        return "give a finite number (no .nan or .inf)"
    if t in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "change the value to one inside the allowed range"
    return "correct the value"


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """The field names of the (nested) model that holds loc[-1], for did-you-mean on unknown fields."""
    import typing

    def models_in(annotation) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [m for a in typing.get_args(annotation) for m in models_in(a)]

    current = [model] if model is not None else []
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        nxt = []
        for m in current:
            f = m.model_fields.get(part)
            if f is not None:
                nxt += models_in(f.annotation)
        current = nxt
    return sorted({name for m in current for name in m.model_fields})


def format_validation_error(exc: ValidationError, file: Path | str,
                            lines: dict[tuple, int] | None = None,
                            prefix: tuple = (), model: type[BaseModel] | None = None) -> list[str]:
    """One line per pydantic error: FILE:LINE: field a.b: message; fix (with did-you-mean for typos)."""
    from .suggest import did_you_mean

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
            hint = did_you_mean(str(key_loc[-1]), _fields_at(model, key_loc)) if key_loc else ""
            msg = "unknown field"
            if hint:
                err = {**err, "type": "_renamed"}
                msg += hint.rstrip("?") + "? rename it"
        where = f"{file}:{line}" if line else f"{file}"
        fix = "" if err.get("type") in _SELF_EXPLAINED else f"; {_fix_for(err)}"
        problems.append(f"{where}: field {field}: {msg}{fix}")
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
        raise UserInputError(format_validation_error(exc, path, lines, model=model)) from None


def line_of(path: Path, loc: tuple) -> int | None:
    """Line of a key path in a YAML file (for problems found after validation)."""
    try:
        _, lines = read_yaml(path)
    except UserInputError:
        return None
    return _loc_line(lines, loc)
