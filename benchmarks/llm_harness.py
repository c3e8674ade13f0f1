"""Does edgeeval's generative agent read decode speed lower than a bare onnxruntime greedy loop?

Same model (SmolLM2-135M fp32 from recipes/smollm2-135m.yaml; `--model tiny` for the generated
decoder), same prompts (the recipe's first --prompts), same number of new tokens each, EOS ignored.
Each round runs both, each a fresh process pinned to the same CPU, order rotated; the figure is
mean(agent tok/s) ÷ mean(bare tok/s) over rounds with a paired-bootstrap 95% interval.
Target: ≥ 0.98 (met when the interval's lower bound is).

    PYTHONPATH=. python benchmarks/llm_harness.py [--rounds 40] [--prompts 4] [--tokens 24] [--model tiny]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, interleaved, ratio_of_means  # noqa: E402
from _llm import agent_run, bare_run, setup  # noqa: E402


def main() -> None:
    a, models, eval_set = setup(rounds=40)
    fp32 = models["fp32"]
    run = {"agent": lambda: agent_run(fp32, eval_set, a.prompts, a.tokens),
           "bare": lambda: bare_run(fp32, eval_set, a.prompts, a.tokens)}
    rows = interleaved(list(run), a.rounds, lambda k: run[k](),
                       log=lambda r: print(f"round {r['round']:3d} {r['order']:10s} agent {r['agent']:8.2f} "
                                           f"bare {r['bare']:8.2f} tok/s  ratio {r['agent'] / r['bare']:.4f}",
                                           flush=True))
    res = ratio_of_means(rows, "agent", "bare")
    print(f"decode tok/s agent ÷ bare: {res['ratio']:.4f} [95% CI {res['ci95'][0]:.4f}, {res['ci95'][1]:.4f}] "
          f"over {res['rounds']} rounds (median round ratio {res['median_round_ratio']:.4f})")
    emit("llm_harness_decode_ratio", round(res["ratio"], 4), ">= 0.98", ci95=[round(x, 4) for x in res["ci95"]],
         met=res["ci95"][0] >= 0.98, model=a.model, prompts=a.prompts, new_tokens=a.tokens, rounds=a.rounds,
         agent_tok_s=round(sum(r["agent"] for r in rows) / len(rows), 2),
         bare_tok_s=round(sum(r["bare"] for r in rows) / len(rows), 2),
         median_round_ratio=round(res["median_round_ratio"], 4))


if __name__ == "__main__":
    main()
