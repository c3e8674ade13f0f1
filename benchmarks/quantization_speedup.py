"""int8 speedup that edgeeval measures: MiniLM (optimum int8 vs fp32) on the `local` device.

Real pipeline: recipes/minilm-embeddings.yaml is built (export + optimum ORTQuantizer, config
from this machine's facts), then each round deploys fp32 and int8 one after the other through
edgeeval.pipeline.deploy (the real agent bundle in a subprocess, the same timed loop as on a board),
alternating which goes first, so drift and the other jobs on this shared machine hit both
alike. value = p50(fp32) / p50(int8) over the pooled latencies of all rounds; target >= 1.6.
Details: per-round p50s and ratios, the int8 mean cosine of the pooled sentence embeddings
to the PyTorch FP32 baseline (must be >= 0.985), retrieval agreement, and the MobileNet int8
vs fp32 figures for ONNX Runtime and LiteRT from benchmarks/_mobilenet.py when it exists.

    python benchmarks/quantization_speedup.py [--rounds 5] [--min-runs 150] [--min-seconds 1.5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, median  # noqa: E402

RECIPE = ROOT / "recipes" / "minilm-embeddings.yaml"


def _p50(xs):
    s = sorted(xs)
    return s[len(s) // 2]   # LoadGen rule: sorted[floor(n * 0.5)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-runs", type=int, default=150)
    ap.add_argument("--min-seconds", type=float, default=1.5)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from edgeeval.pipeline import deploy
    from edgeeval.store.store import Store

    timing = {"warmup": 10, "min_runs": args.min_runs, "min_seconds": args.min_seconds}
    pooled = {"fp32": [], "int8": []}
    rounds, cos, retrieval = [], [], []
    with tempfile.TemporaryDirectory() as td:
        url = f"sqlite:///{td}/bench.db"
        for r in range(args.rounds):
            order = ["fp32", "int8"] if r % 2 == 0 else ["int8", "fp32"]
            row = {"round": r, "order": order}
            for name in order:
                out = deploy(RECIPE, "local", only=[name], store_url=url, timing_overrides=timing)
                if out.error is not None:
                    raise SystemExit(f"deploy of {name} failed: {out.error}")
                s = out.variants[0].summary
                with Store(url) as st:
                    lat_ns = st.get_raw(out.variants[0].variant_id, "latencies_ns")
                pooled[name] += [x / 1e6 for x in lat_ns.tolist()]
                row[f"{name}_p50_ms"] = round(s["latency"]["p50"], 4)
                row[f"{name}_n"] = s["latency"]["n"]
                if name == "int8":
                    cos.append(s["embeddings"]["cosine_mean"])
                    retrieval.append(s["embeddings"]["retrieval"])
            row["speedup"] = round(row["fp32_p50_ms"] / row["int8_p50_ms"], 4)
            rounds.append(row)
            print(f"round {r}: fp32 p50 {row['fp32_p50_ms']:.3f} ms, int8 p50 {row['int8_p50_ms']:.3f} ms, "
                  f"x{row['speedup']:.3f}", flush=True)

    from edgeeval.recipes.build import build
    q = build(RECIPE, only=["int8"]).variant("int8").quantization   # cache hit: the config deploy used here
    value = _p50(pooled["fp32"]) / _p50(pooled["int8"])
    mean_cos = sum(cos) / len(cos)

    try:
        from _mobilenet import mobilenet_speedups
    except ImportError as exc:
        mobilenet = {"onnxruntime": None, "litert": None,
                     "reason": f"not available: benchmarks/_mobilenet.py is missing ({exc})"}
    else:
        try:
            mobilenet = mobilenet_speedups()
        except Exception as exc:  # reported, never invented
            mobilenet = {"onnxruntime": None, "litert": None,
                         "reason": f"not available: mobilenet_speedups() raised {type(exc).__name__}: {exc}"}

    emit("minilm_int8_p50_speedup_local", round(value, 4), ">=1.6",
         passed=bool(value >= 1.6 and mean_cos >= 0.985),
         int8_mean_cosine=round(mean_cos, 6), cosine_target=">=0.985",
         cosine_per_round=[round(c, 6) for c in cos],
         retrieval_top1_agreement=retrieval[-1]["top1_agreement"], retrieval_topk_overlap=retrieval[-1]["topk_overlap"],
         fp32_p50_ms=round(_p50(pooled["fp32"]), 4), int8_p50_ms=round(_p50(pooled["int8"]), 4),
         n={"fp32": len(pooled["fp32"]), "int8": len(pooled["int8"])},
         median_round_speedup=round(median([r["speedup"] for r in rounds]), 4), rounds=rounds,
         optimum_config=q.get("optimum_config"), optimum_config_reason=q.get("optimum_config_reason"),
         weights_dtype=q.get("weights_dtype"), activations_dtype=q.get("activations_dtype"),
         threads="intra_op 1, inter_op 1 (recipe default)", device="local", mobilenet=mobilenet)


if __name__ == "__main__":
    main()
