"""MobileNet int8 vs fp32 speedups for ONNX Runtime and LiteRT, for benchmarks/quantization_speedup.py.

`mobilenet_speedups()` builds recipes/digits-mobilenet.yaml (cached after the first time), then
times fp32 and int8 of each runtime interleaved on this machine (one sample per call, 1 thread),
and returns {runtime: {fp32_p50_ms, int8_p50_ms, speedup_p50, n}}. Speedup = fp32 p50 / int8 p50.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "digits-mobilenet.yaml"


def _ort(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return lambda x: s.run(None, {"input": x})


def _litert(path, quant):
    from edgeeval.recipes.tflite import controller_interpreter

    it = controller_interpreter(Path(path), threads=1)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    scale, zp = i["quantization"]

    def prep(x):
        return np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8) if scale else x

    def run(x):
        it.set_tensor(i["index"], x)
        it.invoke()
        return it.get_tensor(o["index"])
    return run, prep


def mobilenet_speedups(rounds: int = 20, per_round: int = 50) -> dict:
    """Interleaved p50 latencies (ms) and the fp32/int8 p50 ratio for onnxruntime and LiteRT."""
    from edgeeval.recipes.build import build

    res = build(RECIPE, only=["fp32", "int8-static", "tflite-fp32", "tflite-int8"])
    by = {v.name: v for v in res.variants}
    with np.load(res.eval_set.path) as z:
        xs = [z["input"][i:i + 1] for i in range(per_round)]
    lr32, p32 = _litert(by["tflite-fp32"].path, False)
    lr8, p8 = _litert(by["tflite-int8"].path, True)
    runs = {("onnxruntime", "fp32"): (_ort(by["fp32"].path), xs),
            ("onnxruntime", "int8"): (_ort(by["int8-static"].path), xs),
            ("litert", "fp32"): (lr32, [p32(x) for x in xs]),
            ("litert", "int8"): (lr8, [p8(x) for x in xs])}
    times = {k: [] for k in runs}
    for fn, feeds in runs.values():       # warm up
        for x in feeds[:10]:
            fn(x)
    for _ in range(rounds):               # interleaved: each round runs every model in turn
        for k, (fn, feeds) in runs.items():
            for x in feeds:
                t = time.perf_counter_ns()
                fn(x)
                times[k].append(time.perf_counter_ns() - t)
    out = {}
    for rt in ("onnxruntime", "litert"):
        a, b = (float(np.median(times[(rt, p)])) / 1e6 for p in ("fp32", "int8"))
        out[rt] = {"fp32_p50_ms": a, "int8_p50_ms": b, "speedup_p50": a / b, "n": len(times[(rt, "fp32")]),
                   "int8_variant": "int8-static (QDQ)" if rt == "onnxruntime" else "tflite-int8 (full integer)"}
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(mobilenet_speedups(), indent=1))
