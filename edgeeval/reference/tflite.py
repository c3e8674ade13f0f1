"""Controller inference of a .tflite variant with the controller's LiteRT interpreter."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def run_tflite(variant, eval_set) -> tuple[dict[str, np.ndarray], list[str], str]:
    """One sample at a time (the converted models have a fixed batch of 1), int8 I/O (de)quantized
    with the board's own functions. Returns (outputs, output names, runtime)."""
    import importlib.metadata

    from ..agent.edgeeval_agent.quant import dequantize, quantize
    from ..recipes.tflite import controller_interpreter

    it = controller_interpreter(Path(variant.path))
    ins, outs = it.get_input_details(), it.get_output_details()
    in_names = [e["name"] for e in variant.inputs]
    out_names = [e["name"] for e in variant.outputs]
    with np.load(eval_set.path) as z:
        feeds = {k: z[k] for k in in_names}
    n = len(next(iter(feeds.values())))
    parts: list[list[np.ndarray]] = [[] for _ in outs]
    for i in range(n):
        for d, name in zip(ins, in_names):
            x = feeds[name][i:i + 1]
            scale, zp = d["quantization"]
            x = quantize(x, scale, zp, d["dtype"]) if scale else np.ascontiguousarray(x.astype(d["dtype"]))
            it.set_tensor(d["index"], x)
        it.invoke()
        for acc, d in zip(parts, outs):
            y = it.get_tensor(d["index"])
            scale, zp = d["quantization"]
            acc.append(dequantize(y, scale, zp) if scale else np.asarray(y, dtype=np.float32))
    outputs = {name: np.concatenate(p) for name, p in zip(out_names, parts)}
    return outputs, out_names, f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}"
