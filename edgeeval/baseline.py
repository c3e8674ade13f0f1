"""The server FP32 reference: the fp32 model's outputs on the whole eval set, computed on the controller.

Every board result is compared with these outputs (accuracy drop, top-1 agreement, cosine,
...). They are cached in paths.baselines_dir() by (model sha256, dataset sha256), so a
redeploy of an unchanged build does not run the model again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import paths
from .errors import BuildError, UserInputError
from .recipes.cache import read_json, write_json_atomic, write_npz

if TYPE_CHECKING:
    from .recipes.build import BuildResult

DEFAULT_PROVIDERS = ["CPUExecutionProvider"]
_CHUNK = 64        # samples per call when the batch axis is dynamic


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
    labels: np.ndarray | None = None  # the eval set's labels, when it has them
    seconds: float = 0.0


def _stem(model_sha: str, data_sha: str, providers: list[str]) -> str:
    stem = f"{model_sha}_{data_sha}"
    if list(providers) != DEFAULT_PROVIDERS:
        stem += "_" + hashlib.sha256(json.dumps(list(providers)).encode()).hexdigest()[:12]
    return stem


def server_baseline(build_result: "BuildResult", providers: list[str] | None = None) -> Baseline:
    """Outputs of the fp32 artifact over the eval set (cached); same values as per-sample runs."""
    if build_result.recipe.source.type == "huggingface":   # PyTorch FP32 (transformers) on the controller
        from .recipes.huggingface import torch_baseline
        return torch_baseline(build_result)
    providers = list(providers or DEFAULT_PROVIDERS)
    model, ev = build_result.fp32, build_result.eval_set
    stem = _stem(model.sha256, ev.sha256, providers)
    npz, meta_path = paths.baselines_dir() / f"{stem}.npz", paths.baselines_dir() / f"{stem}.json"
    labels = _labels(ev.path, ev.labels)
    meta = read_json(meta_path)
    if meta and npz.exists():
        with np.load(npz) as z:
            outputs = {name: z[f"out{i}"] for i, name in enumerate(meta["output_names"])}
        return Baseline(outputs, meta["output_names"], model.sha256, ev.sha256, npz, True,
                        meta["runtime_version"], meta["providers"], labels, 0.0)

    t0 = time.perf_counter()
    outputs, names, version, used = run_model(model.path, ev.path, ev.inputs, providers)
    tmp = npz.with_name(npz.name + ".tmp")
    write_npz(tmp, {f"out{i}": outputs[n] for i, n in enumerate(names)})
    tmp.replace(npz)
    seconds = time.perf_counter() - t0
    write_json_atomic(meta_path, {"output_names": names, "runtime_version": version, "providers": used,
                                  "model_sha256": model.sha256, "dataset_sha256": ev.sha256,
                                  "samples": ev.samples, "seconds": round(seconds, 3)})
    return Baseline(outputs, names, model.sha256, ev.sha256, npz, False, version, used, labels, seconds)


def run_model(model_path: Path, data_path: Path, input_names: list[str],
              providers: list[str]) -> tuple[dict[str, np.ndarray], list[str], str, list[str]]:
    """Run an .onnx over an .npz eval set: whole chunks if every input's batch axis is dynamic, else one by one."""
    import onnxruntime as ort

    from .agent.agent import AgentError, dense_output

    try:
        sess = ort.InferenceSession(str(model_path), providers=providers)
    except Exception as exc:
        raise BuildError(f"cannot load {model_path.name} in onnxruntime {ort.__version__} "
                         f"with {providers}: {exc}") from exc
    with np.load(data_path) as z:
        feeds = {k: z[k] for k in input_names}
    n = len(next(iter(feeds.values())))
    dynamic = all(_dynamic_batch(i.shape) for i in sess.get_inputs())
    step = _CHUNK if dynamic else 1
    names = [o.name for o in sess.get_outputs()]
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, n, step):
        outs = sess.run(names, {k: v[start:start + step] for k, v in feeds.items()})
        try:
            for acc, out, name in zip(parts, outs, names):
                acc.append(dense_output(np, out, name))   # ZipMap -> [N, C], as on the board
        except AgentError as exc:
            raise UserInputError(f"{model_path}: {exc}; name the outputs to score with data.scores / "
                                 "data.predicted_label (see README, 'Which output is scored')") from None
    outputs = {name: (np.concatenate(p) if p[0].ndim else np.stack(p)) for name, p in zip(names, parts)}
    return outputs, names, ort.__version__, sess.get_providers()


def _dynamic_batch(shape) -> bool:
    return bool(shape) and not (isinstance(shape[0], int) and shape[0] > 0)


def _labels(data_path: Path, key: str | None) -> np.ndarray | None:
    if not key:
        return None
    with np.load(data_path) as z:
        return z[key] if key in z.files else None
