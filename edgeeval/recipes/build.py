"""`edgeeval build`: recipe -> fp32 export -> variants, each an .onnx in the artifact cache, plus a manifest.

Cache keys are hashes of what each step reads, so hits are decided before anything heavy
is imported:  data key    = H(data section, data/callable file hashes, tool versions)
              model key   = H(source section, opset, source file hashes, versions [, data key])
              variant key = H(model key, variant settings, versions [, data key for int8-static])
The fp32 export is shared by every variant; changing one variant rebuilds only that one.
Artifacts are always self-contained .onnx files: an onnx source's external data is
inlined (models over protobuf's 2 GB limit are refused with a BuildError).
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import __version__, paths
from ..errors import UserInputError
from . import cache
from .schema import Recipe, load_recipe, sha256_json
from .sources import data_fingerprint, source_fingerprint
from .state import _art, _check_onnx, _self_contained  # noqa: F401  (used by the build and its tests)

Progress = Callable[[str], None]


@dataclass
class VariantArtifact:
    name: str
    precision: str
    path: Path
    sha256: str
    size_bytes: int
    opset: int | None
    inputs: list[dict]          # [{"name", "shape": [int|str|None], "dtype"}]
    outputs: list[dict]
    quantization: dict          # settings with defaults filled in, plus the tools used
    cached: bool
    seconds: float
    key: str = ""

    def to_json(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass
class EvalSet:
    """The test split as pushed to boards: inputs by name plus `labels` (when the data has labels)."""
    path: Path
    sha256: str
    size_bytes: int
    inputs: list[str]
    labels: str | None
    samples: int
    calibration_path: Path
    calibration_sha256: str
    calibration_samples: int
    calibration_from: str

    def to_json(self) -> dict:
        d = asdict(self)
        d["path"], d["calibration_path"] = str(self.path), str(self.calibration_path)
        return d


@dataclass
class BuildResult:
    recipe: Recipe
    variants: list[VariantArtifact]
    eval_set: EvalSet
    fp32: VariantArtifact       # the exported fp32 model: the server baseline's model
    manifest: dict
    manifest_path: Path
    seconds: float = 0.0
    built: list[str] = field(default_factory=list)   # names of variants that were (re)built

    def variant(self, name: str) -> VariantArtifact:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    @property
    def cached(self) -> bool:
        return not self.built


def tool_versions(recipe: Recipe) -> dict[str, str]:
    """Versions that change build outputs; importlib.metadata reads them without importing anything."""
    names = ["onnx", "onnxruntime", "numpy"]
    if recipe.source.type == "python" or recipe.data.type == "python":
        names += ["torch", "scikit-learn"]
    if recipe.source.type == "huggingface" or recipe.data.type == "text":
        from .huggingface import HF_TOOLS
        names += [n for n in HF_TOOLS if n not in names]
    if recipe.source.type == "gguf":
        from .generative import LLM_TOOLS
        names += [n for n in LLM_TOOLS if n not in names]
    if any(v.format == "tflite" for v in recipe.variants):
        from .tflite import TFLITE_TOOLS
        names += [n for n in TFLITE_TOOLS if n not in names]
    out = {"python": platform.python_version(), "edgeeval": __version__}
    for n in names:
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _record_dir(recipe: Recipe) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", recipe.name)[:40]
    where = sha256_json(str(recipe.path.resolve()))[:12]
    return paths.builds_dir() / f"{slug}-{where}"


def build(recipe_path: Path | str, only: list[str] | None = None, force: bool = False,
          progress: Progress | None = None, target_facts: dict | None = None) -> BuildResult:
    """Build the recipe's variants (or `only` those), reusing every cached step unless `force`.

    `target_facts` (a probed board's facts) steer device-dependent builds: optimum's int8
    config for huggingface sources (edgeeval.recipes.huggingface); None means this machine.
    """
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    recipe = load_recipe(recipe_path)
    selected = _select(recipe, only)
    hashes = cache.FileHashes()
    versions = tool_versions(recipe)
    python_source = recipe.source.type == "python"

    source_fp = source_fingerprint(recipe, hashes)
    data_key = sha256_json({"step": "data", "fp": data_fingerprint(recipe, hashes), "versions": versions})
    model_key = sha256_json({"step": "fp32", "fp": source_fp, "versions": versions,
                             "data": data_key if python_source else None})
    settings = _variant_settings(recipe, selected, target_facts)
    keys = {v.name: sha256_json({"step": "variant", "model": model_key, "settings": settings[v.name][0],
                                 "versions": versions,
                                 "data": data_key if v.precision in ("int8-static", "int8") else None})
            for v in selected}
    hashes.save()

    store = cache.KeyStore()
    hit = (lambda key: None) if force else store.hit
    from .state import BuildState

    state = BuildState(recipe, store)
    state.settings = {name: s for name, (s, _) in settings.items()}

    data_entry = hit(data_key)
    if data_entry is None:
        say("preparing the eval set" if recipe.source.generative else "preparing eval and calibration sets")
        data_entry = state.build_data(data_key)
    _check_calibration_samples(recipe, selected, data_entry["meta"])
    _check_calibration_source(recipe, selected, data_entry["meta"])

    model_entry = hit(model_key)
    fp32_seconds, fp32_cached = 0.0, model_entry is not None
    if model_entry is None:
        t = time.perf_counter()
        say("exporting fp32 model" if python_source else "importing fp32 model")
        model_entry = state.build_fp32(model_key)
        fp32_seconds = time.perf_counter() - t
    if not recipe.source.generative:   # a decoder is fed token by token, not the eval set as it is
        _check_data_matches(recipe, model_entry["meta"]["io"], data_entry["meta"])
    else:
        from .generative import check_decoder_io
        check_decoder_io(recipe, model_entry["meta"]["io"])
    fp32 = _artifact("fp32", "fp32", model_entry, {"precision": "fp32"}, cached=fp32_cached,
                     seconds=fp32_seconds, key=model_key)

    variants, built = [], []
    with tempfile.TemporaryDirectory(dir=paths.artifacts_dir(), prefix=".build-") as tmp:
        state.tmp = Path(tmp)
        for v in selected:
            entry = hit(keys[v.name])
            t = time.perf_counter()
            if entry is None:
                say(f"building {v.name} ({v.precision})")
                entry = state.build_variant(keys[v.name], v, model_entry, data_entry)
                built.append(v.name)
            seconds = time.perf_counter() - t
            s, notes = settings[v.name]
            variants.append(_artifact(v.name, v.precision, entry, {**s, **notes, **entry["meta"].get("tools", {})},
                                      cached=v.name not in built, seconds=seconds, key=keys[v.name]))

    eval_set = _eval_set(data_entry)
    manifest = {
        "manifest_version": 1,
        "recipe": recipe.name,
        "recipe_path": str(recipe.path.resolve()),
        "recipe_hash": recipe.recipe_hash(),
        "source_hash": sha256_json(source_fp),
        "dataset_sha256": eval_set.sha256,
        "eval_set": eval_set.to_json(),
        "keys": {"data": data_key, "fp32": model_key},
        "tool_versions": versions,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fp32": fp32.to_json(),
        "variants": [v.to_json() for v in variants],
    }
    record_dir = _record_dir(recipe)
    cache.write_json_atomic(record_dir / "record.json", {  # which keys this recipe used last
        "recipe": recipe.name, "recipe_path": manifest["recipe_path"],
        "data": data_key, "fp32": model_key, "variants": keys})
    manifest_path = record_dir / "manifest.json"
    cache.write_json_atomic(manifest_path, manifest)
    return BuildResult(recipe, variants, eval_set, fp32, manifest, manifest_path,
                       seconds=time.perf_counter() - t0, built=built)


def _variant_settings(recipe: Recipe, selected, target_facts: dict | None) -> dict[str, tuple[dict, dict]]:
    """{variant: (settings in its cache key, notes)}; huggingface int8 adds the optimum config."""
    if recipe.source.type != "huggingface":
        return {v.name: (v.settings(), {}) for v in selected}
    from .huggingface import local_facts, variant_settings
    facts = target_facts if target_facts is not None else local_facts()
    return {v.name: variant_settings(v, facts) for v in selected}


def _select(recipe: Recipe, only: list[str] | None):
    if not only:
        return list(recipe.variants)
    names = [v.name for v in recipe.variants]
    unknown = [n for n in only if n not in names]
    if unknown:
        from ..suggest import did_you_mean
        raise UserInputError([f"{recipe.path}: no variant named {n!r}{did_you_mean(n, names)}; the recipe has "
                              f"{', '.join(names)}" for n in unknown])
    return [v for v in recipe.variants if v.name in only]


def _check_calibration_samples(recipe: Recipe, selected, data_meta: dict) -> None:
    available = data_meta["calibration_samples"]
    problems = []
    for i, v in enumerate(recipe.variants):
        if v in selected and v.calibration_samples and v.calibration_samples > available:
            problems.append(f"{recipe.line('variants', i, 'calibration_samples')}: field "
                            f"variants.{i}.calibration_samples: {v.calibration_samples} requested but the "
                            f"calibration split has {available} samples; lower it or provide more data")
    if problems:
        raise UserInputError(problems)


CALIBRATED = ("int8-static", "int8")   # precisions whose scales come from calibration data


def _check_calibration_source(recipe: Recipe, selected, data_meta: dict) -> None:
    """Scales fitted on the eval set flatter the accuracy measured on it: refuse unless the recipe says so."""
    if data_meta.get("calibration_from") == "calibration split" or recipe.data.calibrate_on_eval:
        return
    problems = []
    for i, v in enumerate(recipe.variants):
        if v in selected and v.precision in CALIBRATED:
            fix = ("add `calibration: calib.npz` to data (other samples than the eval set)" if recipe.data.type == "npz"
                   else "return a 'calibration' split from the data callable")
            problems.append(f"{recipe.line('variants', i, 'precision')}: field variants.{i}.precision: variant "
                            f"{v.name!r} ({v.precision}) needs calibration data, but the data has no calibration "
                            f"split; {fix}, or set data.calibrate_on_eval: true to calibrate on the "
                            f"{data_meta.get('calibration_from', 'eval set')} (then reported with every result)")
    if problems:
        raise UserInputError(problems)


def _artifact(name, precision, entry, quantization, *, cached, seconds, key) -> VariantArtifact:
    art, meta = entry["artifacts"][0], entry["meta"]
    return VariantArtifact(name=name, precision=precision,
                           path=cache.artifact_path(art["sha256"], art["suffix"]),
                           sha256=art["sha256"], size_bytes=art["size"], opset=meta["io"]["opset"],
                           inputs=meta["io"]["inputs"], outputs=meta["io"]["outputs"],
                           quantization=quantization, cached=cached, seconds=round(seconds, 3), key=key)


def _eval_set(entry: dict) -> EvalSet:
    ev, cal = entry["artifacts"]
    m = entry["meta"]
    return EvalSet(path=cache.artifact_path(ev["sha256"], ev["suffix"]), sha256=ev["sha256"],
                   size_bytes=ev["size"], inputs=m["inputs"], labels=m["labels"], samples=m["samples"],
                   calibration_path=cache.artifact_path(cal["sha256"], cal["suffix"]),
                   calibration_sha256=cal["sha256"], calibration_samples=m["calibration_samples"],
                   calibration_from=m["calibration_from"])


def _check_data_matches(recipe: Recipe, io: dict, data_meta: dict) -> None:
    """The eval set must feed the model as is: same input names, dtypes and fixed dimensions."""
    where = f"{recipe.line('data')}: field data"
    want = {i["name"]: i for i in io["inputs"]}
    have = data_meta["inputs"]
    if sorted(want) != sorted(have):
        raise UserInputError(f"{where}: the data provides inputs {sorted(have)} but the model expects "
                             f"{sorted(want)}; rename the arrays (data.preprocess or data.inputs)")
    problems = []
    for name, spec in want.items():
        dtype, shape = data_meta["dtypes"][name], data_meta["shapes"][name]
        if dtype != spec["dtype"]:
            problems.append(f"{where}: input {name!r} is {dtype} but the model expects {spec['dtype']}; "
                            "convert it in data.preprocess")
        if spec["shape"] and len(shape) != len(spec["shape"]):
            problems.append(f"{where}: input {name!r} has shape {shape} (samples first) but the model expects "
                            f"rank {len(spec['shape'])} {spec['shape']}; reshape it in data.preprocess")
            continue
        for j, (d, m) in enumerate(zip(shape[1:], spec["shape"][1:]), start=1):
            if isinstance(m, int) and m > 0 and d != m:
                problems.append(f"{where}: input {name!r} axis {j} is {d} but the model expects {m}")
    if problems:
        raise UserInputError(problems)


def load_manifest(recipe_path: Path | str) -> dict | None:
    """The manifest of the last build of a recipe, or None (reads JSON only)."""
    recipe = load_recipe(recipe_path)
    return cache.read_json(_record_dir(recipe) / "manifest.json")


def describe(result: BuildResult) -> list[dict[str, Any]]:
    """One row per variant, for CLI tables."""
    return [{"variant": v.name, "precision": v.precision, "size_bytes": v.size_bytes, "sha256": v.sha256[:12],
             "cached": v.cached, "seconds": v.seconds} for v in result.variants]
