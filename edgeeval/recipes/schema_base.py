"""Pieces every recipe section shares: strict models (no unknown key, no NaN or infinity), the
bounds of counts and durations, callable references, "only for this type" checks."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo
from pydantic_core import PydanticCustomError

# "pkg.mod:fn" or "relative/file.py:fn"
_MODULE_CALLABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_FILE_CALLABLE = re.compile(r"^.+\.py:[A-Za-z_]\w*$")

Precision = Literal["fp32", "fp16", "int8-dynamic", "int8-static", "int8", "int4", "gguf"]
# format -> precisions it builds (TFLite int8 is full-integer: int8 weights, activations, inputs, outputs)
# tflite int8-dynamic: dynamic-range (int8 weights, float activations/I/O; tflite-runtime 2.14 mishandles it)
# onnx int4: weight-only blocks (onnxruntime MatMulNBits)
# gguf gguf: a gguf source's file as it is (its own quantization, e.g. Q4_1), for llama.cpp
FORMAT_PRECISIONS = {"onnx": ("fp32", "fp16", "int8-dynamic", "int8-static", "int4"),
                     "tflite": ("fp32", "fp16", "int8", "int8-dynamic"),
                     "gguf": ("gguf",)}


class _Strict(BaseModel):
    # NaN and infinity are refused everywhere: no setting may disable a bound or a comparison
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# upper bounds of the run settings: a typo (1e9 warmup runs, 1e12 s) must not keep a board busy
# for days; the agent enforces max_seconds and warmup_max_seconds on its side as well
DAY_S = 86_400.0
MAX_COUNT = 100_000_000


def _check_callable(value: str | None) -> str | None:
    """A recipe callable runs code, like a Makefile target: the user's own file or an installed
    package. The standard library and builtins are refused (`os:system`, `subprocess:run`,
    `builtins:exec` ...): no recipe needs them, and a shared recipe must not run them."""
    if value is None:
        return value
    if not (_MODULE_CALLABLE.match(value) or _FILE_CALLABLE.match(value)):
        raise _bad(f"{value!r} is not a callable reference; "
                   "write 'package.module:function' or 'path/to/file.py:function'")
    if _MODULE_CALLABLE.match(value) and not _FILE_CALLABLE.match(value):
        import sys

        top = value.split(":", 1)[0].split(".", 1)[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "builtins":
            raise _bad(f"{value!r} names the Python standard library ({top}); a recipe callable must be "
                       "your own code ('path/to/file.py:function') or an installed package's function")
    return value


def _only_for(kinds: dict[str, tuple[str, ...]], field: str, value: Any, info: ValidationInfo,
              required: dict[str, str] | None = None) -> Any:
    """Refuse a field that does not apply to the section's `type` (instead of ignoring it); demand required ones."""
    kind = info.data.get("type")
    allowed = kinds[field]
    if value is not None and kind is not None and kind not in allowed:
        raise _bad(f"only applies to {' or '.join(allowed)}, not {kind}; remove it")
    if value is None and required and kind is not None and required.get(kind) == field:
        raise _bad(f"type {kind} needs `{field}`; add it")
    return value


def _bad(msg: str) -> PydanticCustomError:
    return PydanticCustomError("recipe_value", msg)
