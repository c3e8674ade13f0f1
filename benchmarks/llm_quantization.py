"""What do int8 (dynamic, per channel) and int4 (MatMulNBits, block 32) buy on this machine for
SmolLM2-135M, and what do they cost in quality?

Speed: decode tokens/s of the board agent's generative job per variant (fresh process pinned to one
CPU, one thread, the recipe's first --prompts prompts, --tokens new tokens each, EOS ignored),
variants interleaved in rotated order each round; int8 ÷ fp32 and int4 ÷ fp32 as ratios of means
with paired-bootstrap 95% intervals. Quality beside it, computed on the controller with the same
decoder code the board runs: perplexity change on the recipe's text set against fp32, and token
agreement (fp32 teacher-forced along each variant's own greedy generations of the prompt set).

    PYTHONPATH=. python benchmarks/llm_quantization.py [--rounds 10] [--prompts 4] [--tokens 24] [--model tiny]
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import emit, interleaved, ratio_of_means  # noqa: E402
from _llm import agent_run, setup  # noqa: E402

CONTEXT = 2048


def quality(models: dict[str, Path], eval_set: Path, new_tokens: int) -> dict:
    from edgeeval.agent.edgeeval_agent.runners.generative import greedy, ragged
    from edgeeval.pipeline.generative import GenerativeReference, _decoder, text_pass

    ref_nll = text_pass(models["fp32"], eval_set, CONTEXT)[0]["text_nll"]
    with np.load(eval_set) as z:
        prompts = ragged(z, "prompt")
    ref = GenerativeReference(SimpleNamespace(), models["fp32"], eval_set, CONTEXT, prompts)
    out = {}
    for name, path in models.items():
        nll = text_pass(path, eval_set, CONTEXT)[0]["text_nll"]
        d = _decoder(path)
        gens = [greedy(d, p, new_tokens, 600)["tokens"] for p in prompts]
        ids = np.array([t for g in gens for t in g], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum([len(g) for g in gens])])
        agree = float(np.mean(ref.along(ids, offsets) == ids))
        out[name] = {"perplexity": float(np.exp(nll.mean())),
                     "perplexity_increase_pct": float(100 * (np.exp(nll.mean() - ref_nll.mean()) - 1)),
                     "token_agreement": agree, "positions": int(ids.size), "size_mb": path.stat().st_size / 1e6}
        print(f"{name:5s} perplexity {out[name]['perplexity']:.3f} ({out[name]['perplexity_increase_pct']:+.2f}%), "
              f"token agreement {agree:.4f} over {ids.size} positions, {out[name]['size_mb']:.3g} MB", flush=True)
    return out


def main() -> None:
    a, models, eval_set = setup(rounds=10)
    q = quality(models, eval_set, a.tokens)
    rows = interleaved(list(models), a.rounds, lambda k: agent_run(models[k], eval_set, a.prompts, a.tokens),
                       log=lambda r: print(f"round {r['round']:3d} " + "  ".join(f"{k} {r[k]:8.2f}" for k in models)
                                           + " tok/s", flush=True))
    speed = {}
    for name in models:
        if name == "fp32":
            continue
        res = ratio_of_means(rows, name, "fp32")
        speed[name] = {"ratio": round(res["ratio"], 4), "ci95": [round(x, 4) for x in res["ci95"]]}
        print(f"{name} ÷ fp32 decode tok/s: {res['ratio']:.3f} [95% CI {res['ci95'][0]:.3f}, {res['ci95'][1]:.3f}]; "
              f"perplexity {q[name]['perplexity_increase_pct']:+.2f}%, token agreement {q[name]['token_agreement']:.4f}")
    mean = {k: round(float(np.mean([r[k] for r in rows])), 2) for k in models}
    head = "int4" if "int4" in speed else next(iter(speed))
    emit("llm_int4_decode_speedup" if head == "int4" else f"llm_{head}_decode_speedup", speed[head]["ratio"],
         "report (no target: int8 and int4 decode speed ÷ fp32 beside their quality cost)",
         ci95=speed[head]["ci95"], speedups=speed, decode_tok_s=mean, quality=q, model=a.model, rounds=a.rounds,
         prompts=a.prompts, new_tokens=a.tokens)


if __name__ == "__main__":
    main()
