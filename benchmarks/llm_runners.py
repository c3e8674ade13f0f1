"""Which runner decodes faster on this board: onnxruntime-genai's own generation loop ÷ the agent's
onnxruntime loop, on the same built file (SmolLM2-135M from recipes/smollm2-135m.yaml; `--model
tiny` for the generated decoder), the same prompts and new tokens, EOS ignored.

Each round runs both through the board agent (fresh processes pinned to the same CPU, one thread,
order rotated); the figure per variant is mean(genai tok/s) ÷ mean(onnxruntime tok/s) with a
paired-bootstrap 95% interval. No target: it tells a user which runner to deploy with
(`run.runtime.name`), and what the agent's Python loop costs against a C++ one.

    PYTHONPATH=. python benchmarks/llm_runners.py [--rounds 12] [--prompts 4] [--tokens 24] [--model tiny]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, interleaved, ratio_of_means  # noqa: E402
from _llm import agent_run, setup  # noqa: E402


def main() -> None:
    a, models, eval_set = setup(rounds=12)
    out = {}
    for variant in ("fp32", "int8"):
        m = models[variant]
        run = {"genai": lambda m=m: agent_run(m, eval_set, a.prompts, a.tokens, "onnxruntime-genai"),
               "ort": lambda m=m: agent_run(m, eval_set, a.prompts, a.tokens)}
        rows = interleaved(list(run), a.rounds, lambda k, run=run: run[k](),
                           log=lambda r, v=variant: print(f"{v} round {r['round']:3d} genai {r['genai']:8.2f} "
                                                          f"onnxruntime {r['ort']:8.2f} tok/s  "
                                                          f"ratio {r['genai'] / r['ort']:.4f}", flush=True))
        res = ratio_of_means(rows, "genai", "ort")
        out[variant] = {"ratio": round(res["ratio"], 4), "ci95": [round(x, 4) for x in res["ci95"]],
                        "genai_tok_s": round(sum(r["genai"] for r in rows) / len(rows), 2),
                        "onnxruntime_tok_s": round(sum(r["ort"] for r in rows) / len(rows), 2)}
        print(f"{variant}: decode tok/s genai ÷ onnxruntime loop {res['ratio']:.4f} "
              f"[95% CI {res['ci95'][0]:.4f}, {res['ci95'][1]:.4f}] over {res['rounds']} rounds", flush=True)
    emit("llm_runner_genai_vs_onnxruntime_decode", out["fp32"]["ratio"], "none (informational)",
         ci95=out["fp32"]["ci95"], variants=out, model=a.model, prompts=a.prompts, new_tokens=a.tokens,
         rounds=a.rounds)


if __name__ == "__main__":
    main()
