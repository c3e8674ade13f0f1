"""Tiny ONNX models, eval sets and agent jobs for tests and benchmarks (onnx.helper, no torch).

Weights come from a seeded numpy generator, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np


def _save(model: Any, path: str | Path) -> Path:
    import onnx

    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _make_model(graph: Any, opset: int) -> Any:
    from onnx import helper

    opsets = [helper.make_opsetid("", opset)]
    # The lowest IR version for the opset, so older board runtimes can load the file.
    return helper.make_model(graph, opset_imports=opsets,
                             ir_version=helper.find_min_ir_version_for(opsets),
                             producer_name="edgeeval.testing")


def mlp(path: str | Path, in_features: int = 64, hidden: Sequence[int] = (32,), classes: int = 10,
        seed: int = 0, opset: int = 17) -> Path:
    """MLP (MatMul+Add+Relu per hidden layer): input "input" float32 [N, in] -> "logits" [N, classes]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    sizes = [in_features, *hidden, classes]
    nodes, inits = [], []
    x = "input"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        bias = (0.1 * rng.standard_normal(b)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        last = i == len(sizes) - 2
        nodes += [helper.make_node("MatMul", [x, f"w{i}"], [f"mm{i}"]),
                  helper.make_node("Add", [f"mm{i}", f"b{i}"], ["logits" if last else f"pre{i}"])]
        if not last:
            nodes.append(helper.make_node("Relu", [f"pre{i}"], [f"h{i}"]))
            x = f"h{i}"
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", in_features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        initializer=inits)
    return _save(_make_model(graph, opset), path)


def tiny_mlp(path: str | Path, in_features: int = 64, hidden: int = 32, classes: int = 10,
             seed: int = 0, opset: int = 17) -> Path:
    """One-hidden-layer MLP: input "input" float32 [N, in_features] -> "logits" float32 [N, classes]."""
    return mlp(path, in_features, (hidden,), classes, seed, opset)


def two_input_model(path: str | Path, seed: int = 0, opset: int = 17) -> Path:
    """Inputs "features" float32 [N, 16] and "offset" float32 [N, 4] (dynamic batch axis N);
    outputs "out" = features @ W + offset and "act" = Relu(out), both [N, 4]."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(seed).standard_normal((16, 4)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["features", "w"], ["mm"]),
             helper.make_node("Add", ["mm", "offset"], ["out"]),
             helper.make_node("Relu", ["out"], ["act"])]
    graph = helper.make_graph(
        nodes, "two_input",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 16]),
         helper.make_tensor_value_info("offset", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 4]),
         helper.make_tensor_value_info("act", TensorProto.FLOAT, ["N", 4])],
        initializer=[numpy_helper.from_array(w, "w")])
    return _save(_make_model(graph, opset), path)


def write_eval_npz(path: str | Path, inputs: Mapping[str, np.ndarray],
                   labels: np.ndarray | None = None) -> Path:
    """Eval set as the agent reads it: one array per model input (leading sample axis),
    plus "labels" if given."""
    arrays = {name: np.asarray(a) for name, a in inputs.items()}
    if labels is not None:
        if "labels" in arrays:
            raise ValueError("an input is named 'labels'; that key is reserved for labels")
        arrays["labels"] = np.asarray(labels)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object keeps numpy from appending ".npz"
        np.savez(f, **arrays)
    return path


def make_job(model_path: str | Path, data_path: str | Path, inputs: Sequence[str] = ("input",), *,
             job_id: str | None = None, variant: str = "test", batch_size: int = 1,
             warmup: int = 10, min_runs: int = 200, min_seconds: float = 5.0,
             max_runs: int = 1_000_000, max_seconds: float = 600.0,
             accuracy: bool = True, outputs_path: str | Path | None = None,
             runtime: Mapping[str, Any] | None = None, model_sha256: str | None = None,
             progress_interval_s: float = 0.5) -> dict:
    """A protocol-1 job dict, complete as the controller sends it (edgeeval/jobdefaults.py); `runtime`
    entries override the single-threaded CPU defaults. Keys added afterwards (a "power" or
    "scenario" block) are completed by testing.agent.run_agent, or call jobdefaults.complete."""
    from ..jobdefaults import complete

    job_id = job_id or uuid.uuid4().hex
    rt = {"name": "onnxruntime", "providers": ["CPUExecutionProvider"], "provider_options": None,
          "intra_op_num_threads": 1, "inter_op_num_threads": 1,
          "graph_optimization_level": "all", "execution_mode": "sequential", "session_config": {}}
    rt.update(runtime or {})
    return complete({
        "protocol": 1, "job_id": job_id, "variant": variant,
        "model": {"path": str(model_path), "format": "onnx", "sha256": model_sha256},
        "data": {"path": str(data_path), "inputs": list(inputs), "labels": "labels",
                 "batch_size": batch_size},
        "runtime": rt,
        "timing": {"warmup": warmup, "min_runs": min_runs, "min_seconds": min_seconds,
                   "max_runs": max_runs, "max_seconds": max_seconds},
        "accuracy": {"enabled": accuracy,
                     "outputs_path": str(outputs_path or f"runs/{job_id}/outputs.npz")},
        "progress_interval_s": progress_interval_s,
    })
