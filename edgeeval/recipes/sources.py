"""Where a recipe's model and data come from: callables, .onnx files, .npz files, and their hashes.

Callable contracts (a recipe names them as "pkg.mod:fn" or "relative/file.py:fn"):
  data:       fn(**params) -> {"train": {...}, "calibration": {...}, "test": {...}}; each split
              maps input names to arrays with a leading sample axis, plus optional "labels".
              "train" is needed only by python model sources; "calibration" defaults to
              the first samples of "test".
  preprocess: fn(split: dict[str, ndarray]) -> dict[str, ndarray], applied to every split.
  model:      fn(data, out_path: Path, opset: int, **params) -> None writes an fp32 .onnx
              with no external data.
Hashes cover the callable's source file (not what it imports) and the bytes of every
named file, including an .onnx file's external data. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import UserInputError
from .cache import FileHashes
from .schema import Data, Recipe

LABELS = "labels"


def _split_ref(ref: str) -> tuple[str, str]:
    target, fn = ref.rsplit(":", 1)
    return target, fn


def callable_file(recipe: Recipe, ref: str, loc: tuple) -> Path | None:
    """The source file behind a callable reference, found without importing its module."""
    target, _ = _split_ref(ref)
    if target.endswith(".py"):
        return recipe.resolve(target)
    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError) as exc:
        spec, why = None, f" ({exc})"
    else:
        why = ""
    if spec is None:
        raise UserInputError(f"{recipe.line(*loc)}: field {'.'.join(loc)}: module {target!r} not found{why}; "
                             "check the name or install it (or give 'path/to/file.py:function')")
    origin = spec.origin
    return Path(origin) if origin and origin not in ("built-in", "frozen") else None


def user_code_error(where: str, ref: str, exc: BaseException, context: str = "") -> UserInputError:
    """An exception inside the recipe's own code: exit 2, naming the field, the exception and
    the innermost line of the user's code it came from (no traceback)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "/edgeeval/" not in f.filename.replace("\\", "/")] or frames
    at = f" at {own[-1].filename}:{own[-1].lineno}" if own else ""
    text = str(exc)
    text = text if len(text) <= 300 else text[:297] + "..."
    return UserInputError(f"{where}: {ref} raised {type(exc).__name__}{context}{at}: {text}; "
                          "fix the function (EDGEEVAL_DEBUG=1 shows the traceback)")


def load_callable(recipe: Recipe, ref: str, loc: tuple) -> Callable:
    """Import the module (by name, or by path relative to the recipe) and return the function."""
    target, fn = _split_ref(ref)
    where = f"{recipe.line(*loc)}: field {'.'.join(loc)}"
    if target.endswith(".py"):
        file = recipe.resolve(target)
        name = "edgeeval_recipe_" + hashlib.sha256(str(file).encode()).hexdigest()[:16]
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise UserInputError(f"{where}: importing {file} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UserInputError(f"{where}: cannot import {target!r}: {exc}; install it or fix the name") from exc
    func = getattr(module, fn, None)
    if not callable(func):
        raise UserInputError(f"{where}: {target!r} has no function {fn!r}; check the name after the colon")
    return func


def onnx_files(path: Path, hashes: FileHashes, where: str | None = None) -> list[Path]:
    """The .onnx file and every external-data file it references (list memoised on the file's stat)."""
    locations = hashes.recall(path, "external_data")
    if locations is None:
        from onnx.external_data_helper import uses_external_data

        model = load_onnx_or_explain(path, where, load_external_data=False)
        locations = sorted({
            entry.value
            for t in _all_tensors(model) if uses_external_data(t)
            for entry in t.external_data if entry.key == "location"
        })
        hashes.remember(path, "external_data", locations)
    return [path] + [path.parent / loc for loc in locations]


def load_onnx_or_explain(path: Path, where: str | None = None, **kw):
    """onnx.load, with a user error naming the file when it is not a model (text, truncated, HTML page)."""
    import onnx

    where = where or str(path)
    if path.is_dir():
        raise UserInputError(f"{where}: {path} is a directory; give the .onnx file inside it")
    try:
        model = onnx.load(str(path), **kw)
    except Exception as exc:   # protobuf DecodeError, or a missing external-data file
        head = path.read_bytes()[:16] if path.is_file() else b""
        raise UserInputError(f"{where}: {path.name} is not a readable ONNX model ({type(exc).__name__}: "
                             f"{str(exc)[:200]}; it starts with {head!r}, {path.stat().st_size} bytes); "
                             "check the file: a truncated copy, an HTML error page or another format") from None
    if not model.graph.node and not model.graph.output:
        raise UserInputError(f"{where}: {path.name} parses as protobuf but holds no ONNX graph "
                             f"({path.stat().st_size} bytes); give an exported .onnx model")
    return model


def _all_tensors(model):
    from onnx.external_data_helper import _get_all_tensors
    return _get_all_tensors(model)


def _fingerprint_callable(recipe: Recipe, ref: str, loc: tuple, hashes: FileHashes) -> dict:
    file = callable_file(recipe, ref, loc)
    return {"ref": ref, "file_sha256": hashes.sha256(file) if file and file.is_file() else None}


def source_fingerprint(recipe: Recipe, hashes: FileHashes) -> dict:
    """What the fp32 model depends on besides the data: settings plus file contents."""
    src = recipe.source
    if src.type == "onnx":
        path = recipe.resolve(src.path)
        files = []
        for f in onnx_files(path, hashes, f"{recipe.line('source', 'path')}: field source.path"):
            if not f.is_file():
                raise UserInputError(f"{recipe.line('source', 'path')}: field source.path: external data file "
                                     f"{f.name!r} referenced by {path.name} is missing; put it next to the model")
            files.append({"name": f.name, "sha256": hashes.sha256(f)})
        return {"type": "onnx", "files": files}
    if src.type == "huggingface":
        from .huggingface import fingerprint
        return fingerprint(recipe, hashes)
    if src.type == "gguf":
        from .generative import fingerprint as gguf_fingerprint
        return gguf_fingerprint(recipe, hashes)
    return {"type": "python", "params": src.params, "opset": recipe.export.opset,
            "callable": _fingerprint_callable(recipe, src.callable, ("source", "callable"), hashes)}


NOT_IN_DATA_KEY = {"scores", "predicted_label", "calibrate_on_eval"}


def data_fingerprint(recipe: Recipe, hashes: FileHashes) -> dict:
    d = recipe.data
    # what to score and whether calibrating on the eval set is allowed do not change the data built
    out: dict[str, Any] = {"section": d.model_dump(mode="json", exclude=NOT_IN_DATA_KEY)}
    if d.type == "npz":
        out["eval_sha256"] = hashes.sha256(recipe.resolve(d.path))
        if d.calibration:
            out["calibration_sha256"] = hashes.sha256(recipe.resolve(d.calibration))
    elif d.type == "prompts":   # prompt and text files + the GGUF whose tokenizer reads them
        from .generative import BENCH_TOKENS
        from .generative import fingerprint as gguf_fingerprint
        out["files_sha256"] = [hashes.sha256(recipe.resolve(d.prompts)), hashes.sha256(recipe.resolve(d.text))]
        out["tokenizer"] = gguf_fingerprint(recipe, hashes)
        out["bench_tokens"] = BENCH_TOKENS
    elif d.type == "tokens":
        from .generative import BENCH_TOKENS
        out["eval_sha256"] = hashes.sha256(recipe.resolve(d.path))
        out["bench_tokens"] = BENCH_TOKENS
    elif d.type == "text":      # sentences + the tokenizer that turns them into token tensors
        from .huggingface import tokenizer_fingerprint
        out["eval_sha256"] = hashes.sha256(recipe.resolve(d.path))
        out["tokenizer"] = tokenizer_fingerprint(recipe, hashes) if recipe.source.type == "huggingface" else None
    else:
        out["callable"] = _fingerprint_callable(recipe, d.callable, ("data", "callable"), hashes)
    if d.preprocess:
        out["preprocess"] = _fingerprint_callable(recipe, d.preprocess, ("data", "preprocess"), hashes)
    return out


# ---- loading the data --------------------------------------------------------------------

def load_splits(recipe: Recipe, need_train: bool) -> dict[str, dict]:
    """Run the data callable (or read the .npz files), preprocess, check shapes; labels under "labels"."""
    import numpy as np

    d = recipe.data
    if d.type in ("prompts", "tokens"):   # token sequences of different lengths: their own checks
        from .generative import load_splits as generative_splits
        arrays = (read_npz_arrays(recipe.resolve(d.path), f"{recipe.line('data', 'path')}: field data.path")
                  if d.type == "tokens" else None)
        return generative_splits(recipe, arrays)
    if d.type == "npz":
        where = f"{recipe.line('data', 'path')}: field data.path"
        splits = {"test": _read_npz(recipe.resolve(d.path), d, where)}
        if d.calibration:
            splits["calibration"] = _read_npz(recipe.resolve(d.calibration), d,
                                              f"{recipe.line('data', 'calibration')}: field data.calibration")
    elif d.type == "text":
        from .huggingface import load_text_splits
        where = f"{recipe.line('data', 'path')}: field data.path"
        splits = load_text_splits(recipe)
    else:
        where = f"{recipe.line('data', 'callable')}: field data.callable"
        fn = load_callable(recipe, d.callable, ("data", "callable"))
        try:
            splits = fn(**d.params)
        except Exception as exc:
            raise user_code_error(where, d.callable, exc) from None
        if not isinstance(splits, dict) or not isinstance(splits.get("test"), dict):
            raise UserInputError(f"{where}: {d.callable} must return a dict with a 'test' split "
                                 f"(a dict of arrays), got {type(splits).__name__}")
    if d.preprocess:
        pre = load_callable(recipe, d.preprocess, ("data", "preprocess"))
        where_pre = f"{recipe.line('data', 'preprocess')}: field data.preprocess"
        for name in list(splits):
            labels = splits[name].get(LABELS)
            try:
                out = pre({k: v for k, v in splits[name].items() if k != LABELS})
            except Exception as exc:
                raise user_code_error(where_pre, d.preprocess, exc, f" on split {name!r}") from None
            if not isinstance(out, dict):
                raise UserInputError(f"{where_pre}: {d.preprocess} must return a dict of arrays, "
                                     f"got {type(out).__name__}")
            if labels is not None:
                out = {**out, LABELS: labels}
            splits[name] = out
    if need_train and "train" not in splits:
        raise UserInputError(f"{where}: a python model source trains on a 'train' split; return one")
    for name, split in splits.items():
        splits[name] = _check_split(split, f"{where}: split {name!r}", np)
    if "calibration" in splits:
        a, b = sorted(k for k in splits["test"] if k != LABELS), sorted(k for k in splits["calibration"] if k != LABELS)
        if a != b:
            raise UserInputError(f"{where}: calibration inputs {b} differ from test inputs {a}; give the same keys")
    return splits


def read_npz_arrays(path: Path, where: str) -> dict:
    """Every array of an .npz (no pickle), or a user error naming `where` and the fix."""
    import numpy as np

    if path.is_dir():
        raise UserInputError(f"{where}: {path} is a directory; give the .npz file")
    if not path.is_file():
        raise UserInputError(f"{where}: {path} does not exist; give the path of an .npz file")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":
        raise UserInputError(f"{where}: {path.name} is not an .npz (a zip of .npy arrays; it starts with "
                             f"{head!r}); write it with numpy.savez(path, name=array, labels=...)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:
        raise UserInputError(f"{where}: cannot read {path} as .npz ({type(exc).__name__}: {str(exc)[:200]}); "
                             "arrays must be plain numeric (no pickled objects): re-save with numpy.savez") from None


def _read_npz(path: Path, d: Data, where: str) -> dict:
    arrays = read_npz_arrays(path, where)
    keys = d.inputs if d.inputs is not None else [k for k in arrays if k != d.labels]
    missing = [k for k in keys + ([d.labels] if d.labels else []) if k not in arrays]
    if missing:
        raise UserInputError(f"{where}: {path.name} has no key(s) {missing}; it has {sorted(arrays)}")
    split = {k: arrays[k] for k in keys}
    if d.labels:
        if d.labels in keys:
            raise UserInputError(f"{where}: key {d.labels!r} is both an input and the labels; fix data.inputs")
        split[LABELS] = arrays[d.labels]
    return split


def _check_split(split: dict, where: str, np) -> dict:
    if not isinstance(split, dict) or not any(k != LABELS for k in split):
        raise UserInputError(f"{where}: must be a dict mapping input names to arrays (plus optional 'labels')")
    out, n = {}, None
    for k, v in split.items():
        arr = np.asarray(v)
        if arr.dtype == object or arr.ndim == 0:
            raise UserInputError(f"{where}: {k!r} must be a numeric array with a leading sample axis")
        if n is None:
            n = arr.shape[0]
        if arr.shape[0] != n or n == 0:
            raise UserInputError(f"{where}: {k!r} has {arr.shape[0]} samples, expected {n} (and at least 1)")
        out[k] = np.ascontiguousarray(arr)
    return out


def model_io(path: Path) -> dict:
    """Inputs/outputs of an .onnx file: name, shape (int, symbolic name or null), numpy dtype; and opset."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}

    def describe(v):
        # non-tensor values (a ZipMap's seq(map(...)), optional, sparse) have no dtype or shape
        kind = v.type.WhichOneof("value")
        if kind != "tensor_type":
            return {"name": v.name, "shape": [], "dtype": None, "type": _type_text(v.type)}
        tt = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
        return {"name": v.name, "shape": dims, "dtype": str(tensor_dtype_to_np_dtype(tt.elem_type)),
                "type": _type_text(v.type)}

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"opset": opset,
            "inputs": [describe(v) for v in model.graph.input if v.name not in inits],
            "outputs": [describe(v) for v in model.graph.output]}


def _type_text(t) -> str:
    """An ONNX TypeProto as onnxruntime writes it: tensor(float), seq(map(int64,tensor(float)))."""
    from onnx import TensorProto

    kind = t.WhichOneof("value")
    if kind == "tensor_type":
        return f"tensor({TensorProto.DataType.Name(t.tensor_type.elem_type).lower()})"
    if kind == "sequence_type":
        return f"seq({_type_text(t.sequence_type.elem_type)})"
    if kind == "map_type":
        key = TensorProto.DataType.Name(t.map_type.key_type).lower()
        return f"map({key},{_type_text(t.map_type.value_type)})"
    if kind == "optional_type":
        return f"optional({_type_text(t.optional_type.elem_type)})"
    return kind or "unknown"
