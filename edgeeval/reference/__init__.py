"""Reference outputs computed on the controller, all through one cache keyed by (model, data) sha256:

* the server FP32 baseline every board result is compared with — onnxruntime on the fp32 .onnx,
  or PyTorch for a Hugging Face source (the model the export came from);
* the controller's run of the very artifact pushed to a board (onnxruntime for .onnx, LiteRT
  for .tflite), which splits quantization loss from device/runtime loss (evaluate/losschain.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .cache import cached_outputs

if TYPE_CHECKING:
    from ..recipes.build import BuildResult

DEFAULT_PROVIDERS = ["CPUExecutionProvider"]


@dataclass
class Baseline:
    outputs: dict[str, np.ndarray]    # output name -> array with a leading sample axis
    output_names: list[str]           # in the model's order
    model_sha256: str
    dataset_sha256: str
    path: Path                        # the cached .npz
    cached: bool
    runtime_version: str
    providers: list[str]
    labels: np.ndarray | None = None  # the eval set's labels, when it has them (read once, here)
    seconds: float = 0.0


def _stem(model_sha: str, data_sha: str, providers: list[str]) -> str:
    stem = f"{model_sha}_{data_sha}"
    if list(providers) != DEFAULT_PROVIDERS:
        stem += "_" + hashlib.sha256(json.dumps(list(providers)).encode()).hexdigest()[:12]
    return stem


def onnx_baseline(build_result: BuildResult, providers: list[str] | None = None) -> Baseline:
    """onnxruntime on the fp32 .onnx; same values as per-sample runs."""
    model, ev = build_result.fp32, build_result.eval_set
    providers = list(providers or DEFAULT_PROVIDERS)

    def compute():
        from .onnx import run_model

        outputs, names, version, used = run_model(model.path, ev.path, ev.inputs, providers)
        return outputs, names, {"runtime_version": version, "providers": used, "samples": ev.samples}

    c = cached_outputs(_stem(model.sha256, ev.sha256, providers), lambda: _with_shas(compute(), model, ev))
    return _baseline(c, model, ev, _labels(ev.path, ev.labels))


def torch_baseline(build_result: BuildResult) -> Baseline:
    """PyTorch FP32 (transformers) on the controller: the model the ONNX export came from."""
    from .torch import run_torch

    model, ev = build_result.fp32, build_result.eval_set
    c = cached_outputs(f"{model.sha256}_{ev.sha256}_torch", lambda: _with_shas(run_torch(build_result), model, ev))
    return _baseline(c, model, ev, _labels(ev.path, ev.labels))


def _baseline(c, model, ev, labels) -> Baseline:
    return Baseline(c.outputs, c.names, model.sha256, ev.sha256, c.path, c.cached, c.meta["runtime_version"],
                    c.meta["providers"], labels, 0.0 if c.cached else c.meta["seconds"])


def controller_outputs(variant, eval_set) -> tuple[dict[str, np.ndarray], dict]:
    """The variant's own artifact run on the controller over the eval set (cached); (outputs, meta)."""
    kind = "tflite" if Path(variant.path).suffix == ".tflite" else "onnx"

    def compute():
        if kind == "onnx":
            from .onnx import run_model

            outputs, names, version, _ = run_model(variant.path, eval_set.path, eval_set.inputs, DEFAULT_PROVIDERS)
            runtime = f"onnxruntime {version}"
        else:
            from .tflite import run_tflite

            outputs, names, runtime = run_tflite(variant, eval_set)
        return outputs, names, {"runtime": runtime}

    c = cached_outputs(f"ctrl-{kind}_{variant.sha256}_{eval_set.sha256}", lambda: _with_shas(compute(), variant, eval_set))
    return c.outputs, {**c.meta, "cached": c.cached}


def _with_shas(computed, model, ev):
    outputs, names, meta = computed
    return outputs, names, {**meta, "model_sha256": model.sha256, "dataset_sha256": ev.sha256}


def _labels(data_path: Path, key: str | None) -> np.ndarray | None:
    if not key:
        return None
    with np.load(data_path) as z:
        return np.asarray(z[key]) if key in z.files else None
