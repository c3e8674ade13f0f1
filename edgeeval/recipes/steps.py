"""Build steps, registered by name: how each source type exports its fp32 .onnx (EXPORTERS, by
`source.type`) and how each variant is made from it (STEPS, by "format/precision", with a
source-specific step first when one is registered, e.g. optimum's int8 for Hugging Face).
A second step under a taken name is an error at import.

An exporter is fn(state, tmp) -> (path of the exported .onnx, where-text for messages).
A step is fn(state, key, variant, model_entry, data_entry) -> the cache entry it stored.
`state` is the build's working state (recipes/state.py `BuildState`): recipe, store, tmp,
splits_(), calibration(data_entry), pre_processed(fp32 path), put_onnx(...), module.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BuildError
from ..registry import Registry
from . import cache
from .schema import FORMAT_PRECISIONS

EXPORTERS: Registry = Registry("fp32 exporter")
STEPS: Registry = Registry("build step")


def step_for(recipe, variant):
    """The step that builds `variant`: "<source>:<format>/<precision>" if registered, else "<format>/<precision>"."""
    name = f"{variant.format}/{variant.precision}"
    special = f"{recipe.source.type}:{name}"
    return STEPS[special] if special in STEPS else STEPS[name]


def _fp32_path(model_entry: dict) -> Path:
    art = model_entry["artifacts"][0]
    return cache.artifact_path(art["sha256"], art["suffix"])


# ---- fp32 exporters

@EXPORTERS.register("onnx")
def export_onnx_file(state, tmp: Path):
    """A user's .onnx, used as it is (made self-contained by the build)."""
    r = state.recipe
    return r.resolve(r.source.path), f"{r.line('source', 'path')}: field source.path"


@EXPORTERS.register("huggingface")
def export_huggingface(state, tmp: Path):
    """optimum's ONNX exporter on the model folder."""
    from .huggingface import export_fp32

    r = state.recipe
    return export_fp32(r, tmp), f"{r.line('source')}: field source"


@EXPORTERS.register("gguf")
def export_gguf(state, tmp: Path):
    """transformers reads the GGUF, optimum exports it with its KV cache (recipes/generative.py)."""
    from .generative import export_fp32

    r = state.recipe
    return export_fp32(r, tmp), f"{r.line('source')}: field source"


@EXPORTERS.register("python")
def export_python(state, tmp: Path):
    """The user's callable(splits, out_path, opset, **params) writes the .onnx (and may return the
    nn.Module, which TFLite variants convert)."""
    from .sources import load_callable, user_code_error

    r = state.recipe
    raw = tmp / "exported.onnx"
    where = f"{r.line('source', 'callable')}: field source.callable"
    fn = load_callable(r, r.source.callable, ("source", "callable"))
    try:
        module = fn(state.splits_(), raw, r.export.opset, **r.source.params)
        state.module = module if hasattr(module, "state_dict") else None  # for TFLite variants
    except Exception as exc:
        if os.environ.get("EDGEEVAL_DEBUG"):
            raise
        raise user_code_error(where, r.source.callable, exc) from None
    if not raw.is_file():
        raise BuildError(f"{where}: {r.source.callable} returned without writing {raw.name}; "
                         "it must write an fp32 .onnx to out_path")
    return raw, where


# ---- variant steps

@STEPS.register("onnx/fp32")
def onnx_fp32(state, key, v, model_entry, data_entry):
    """The fp32 model itself."""
    return state.store.put(key, model_entry["artifacts"], {"io": model_entry["meta"]["io"], "tools": {}})


@STEPS.register("gguf/gguf")
def gguf_as_is(state, key, v, model_entry, data_entry):
    """The gguf source's file itself, for a llama.cpp runner: its own quantization, recorded."""
    from .generative import gguf_file, gguf_file_type

    path, why = gguf_file(state.recipe)
    if path is None:
        raise BuildError(f"{state.recipe.line('source')}: field source: {why}")
    return state.put_file(key, path, ".gguf", {"gguf_file_type": gguf_file_type(path)})


@STEPS.register("onnx/fp16")
def onnx_fp16(state, key, v, model_entry, data_entry):
    from .quantize import to_fp16

    out = state.tmp / f"{key}.onnx"
    return state.put_onnx(key, out, f"variant {v.name!r}", to_fp16(_fp32_path(model_entry), out, v.settings()))


@STEPS.register("onnx/int8-dynamic")
def onnx_int8_dynamic(state, key, v, model_entry, data_entry):
    """onnxruntime.quantization.quantize_dynamic on the pre-processed model."""
    from .quantize import quantize_dynamic

    pre_path, pre_info = state.pre_processed(_fp32_path(model_entry))
    out = state.tmp / f"{key}.onnx"
    tools = quantize_dynamic(pre_path, out, v.settings())
    return state.put_onnx(key, out, f"variant {v.name!r}", {**pre_info, **tools})


@STEPS.register("onnx/int8-static")
def onnx_int8_static(state, key, v, model_entry, data_entry):
    """onnxruntime.quantization.quantize_static with the calibration split."""
    from .quantize import quantize_static

    pre_path, pre_info = state.pre_processed(_fp32_path(model_entry))
    out = state.tmp / f"{key}.onnx"
    tools = quantize_static(pre_path, out, v.settings(), state.calibration(data_entry),
                            model_entry["meta"]["io"]["inputs"])
    return state.put_onnx(key, out, f"variant {v.name!r}", {**pre_info, **tools})


@STEPS.register("huggingface:onnx/int8-dynamic")
def optimum_int8_dynamic(state, key, v, model_entry, data_entry):
    """optimum's ORTQuantizer, its config (arm64/avx2/avx512_vnni) chosen for the target."""
    from .huggingface import quantize_int8

    out = state.tmp / f"{key}.onnx"
    tools = quantize_int8(_fp32_path(model_entry), out, state.settings.get(v.name) or v.settings())
    return state.put_onnx(key, out, f"variant {v.name!r}", tools)


@STEPS.register("onnx/int4")
def onnx_int4(state, key, v, model_entry, data_entry):
    """onnxruntime's MatMulNBits block quantizer: 4-bit weights, float activations."""
    from .generative import quantize_int4

    out = state.tmp / f"{key}.onnx"
    return state.put_onnx(key, out, f"variant {v.name!r}", quantize_int4(_fp32_path(model_entry), out, v.settings()))


def _tflite(state, key, v, model_entry, data_entry):
    """Converted from the PyTorch module with litert-torch (recipes/tflite.py)."""
    from .tflite import build_tflite

    return build_tflite(state, key, v, model_entry, data_entry)


for _precision in FORMAT_PRECISIONS["tflite"]:
    STEPS.register(f"tflite/{_precision}")(_tflite)
