"""A language model's numbers (evaluate/generative.py) from hand-made agent results: every figure
checked against its definition, and a board's doubtful result refused (boardlimits.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from edgeeval.boardlimits import check_result
from edgeeval.errors import BoardProtocolError
from edgeeval.evaluate.generative import generative_summary


def _event(tokens=(5, 5, 5, 5, 5, 5), step_ns=100_000):
    """An agent result: prompts generating `tokens` each, every decode step `step_ns` (+ a ramp)."""
    steps = [step_ns + 1000 * (i % 7) for i in range(sum(t - 1 for t in tokens))]
    return {"task": "generate", "latencies_ns": steps, "timed_wall_s": sum(steps) / 1e9 * 1.2,
            "load_ms": 5.0, "first_inference_ms": 6.0, "peak_rss_kb": 65536, "warmup_ns": [1, 2],
            "generate": {"ttft_cold_ns": 6_000_000, "layers": 2, "kv_bytes_per_token": 1024,
                         "prefill": [{"tokens": 32, "ns": [200_000 + 1000 * i for i in range(8)], "stop": "repetitions"},
                                     {"tokens": 512, "ns": [], "skipped": "beyond the context"}],
                         "decode": [{"depth": 0, "tokens": 8, "step_ns": [[100_000] * 7, [120_000] * 7, [110_000] * 7]}],
                         "prompts": {"ttft_ns": [150_000 + 1000 * i for i in range(len(tokens))],
                                     "tokens": list(tokens), "stop": ["max_tokens"] * len(tokens),
                                     "run_ns": int(sum(steps) * 0.9)},
                         "power_tokens_per_call": None,
                         "settings": {}}}


def _outputs(seed=0, n_text=3, per=20, flip=0.0, nll_shift=0.0):
    rng = np.random.default_rng(seed)
    nll = rng.uniform(1.0, 4.0, n_text * per)
    ref = {"text_nll": nll, "text_argmax": rng.integers(0, 50, nll.size).astype(np.int32),
           "text_offsets": np.arange(0, nll.size + 1, per)}
    dev = {"text_nll": nll + nll_shift, "text_argmax": ref["text_argmax"].copy()}
    gen = rng.integers(0, 50, 30)
    dev.update(gen_ids=gen, gen_offsets=np.arange(0, 31, 5))
    ref["gen_argmax"] = gen.copy()
    k = int(round(flip * gen.size))
    ref["gen_argmax"][gen.size - k:] = (gen[gen.size - k:] + 1) % 50
    return dev, ref


def test_decode_rate_prefill_and_ttft_follow_their_definitions():
    ev = _event()
    s = generative_summary(ev, None, None, None, {})
    g = s["generate"]
    steps = np.asarray(ev["latencies_ns"], dtype=float)
    # decode tokens/s over the prompt set: every decode step over their total time, interval over prompts
    assert g["decode_tokens_per_s"]["value"] == pytest.approx(steps.size / steps.sum() * 1e9)
    lo, hi = g["decode_tokens_per_s"]["ci"]
    assert lo <= g["decode_tokens_per_s"]["value"] <= hi and g["decode_tokens_per_s"]["prompts"] == 6
    pp = g["prefill"]
    assert pp[0]["tokens"] == 32 and pp[0]["runs"] == 8
    ns = np.array(ev["generate"]["prefill"][0]["ns"], dtype=float)
    assert pp[0]["tokens_per_s"] == pytest.approx(32e9 / ns.mean()) and pp[0]["median_ms"] == np.median(ns) / 1e6
    assert pp[0]["ci"][0] < pp[0]["tokens_per_s"] < pp[0]["ci"][1]
    assert pp[1]["tokens_per_s"] is None and pp[1]["reason"] == "beyond the context"
    tg = g["decode"][0]
    assert tg["tokens_per_s"] == pytest.approx(21 / (7 * (100_000 + 120_000 + 110_000)) * 1e9)
    assert tg["ci"][0] < tg["tokens_per_s"] < tg["ci"][1]
    assert g["ttft"]["n"] == 6 and g["ttft_cold_ms"] == 6.0 and g["tokens_generated"] == 30
    assert s["latency"]["n"] == 24 and s["task"] == "generate"
    assert 0 < g["harness_overhead"]["runtime_share"] < 1


def test_perplexity_change_and_its_paired_interval():
    dev, ref = _outputs(nll_shift=0.01)
    s = generative_summary(_event(), dev, ref, None, {"max_perplexity_increase_pct": 2.0})
    q = s["quality"]
    assert q["perplexity"] == pytest.approx(np.exp(ref["text_nll"].mean() + 0.01))
    assert q["perplexity_increase_pct"] == pytest.approx(100 * (np.exp(0.01) - 1))
    # a constant shift of every token's NLL: every resample gives the same change
    assert q["perplexity_increase_ci"] == pytest.approx([100 * (np.exp(0.01) - 1)] * 2)
    assert s["passed"] is True and s["gates"][0]["name"] == "max_perplexity_increase_pct"
    dev, ref = _outputs(nll_shift=0.05)
    s = generative_summary(_event(), dev, ref, None, {"max_perplexity_increase_pct": 2.0})
    assert s["passed"] is False and s["gates"][0]["value"] == pytest.approx(100 * (np.exp(0.05) - 1))


def test_token_agreement_counts_positions_and_first_divergence():
    dev, ref = _outputs(flip=0.2)           # the last 6 of 30 generated tokens differ: the last prompt's 5 + 1
    s = generative_summary(_event(), dev, ref, None, {"min_token_agreement": 0.9})
    q = s["quality"]
    assert q["token_agreement"] == pytest.approx(24 / 30) and q["token_agreement_positions"] == 30
    assert q["first_divergence"] == {"prompts": 6, "diverged": 2, "median_position": 2.0}
    assert s["passed"] is False
    assert q["text_top1_agreement"] == 1.0


def test_what_was_not_measured_is_null_with_a_reason():
    s = generative_summary(_event(), None, None, None, {"min_token_agreement": 0.9})
    q = s["quality"]
    assert q["perplexity"] is None and "no board outputs" in q["reasons"]["perplexity"]
    assert s["gates"][0]["value"] is None and s["gates"][0]["reason"] and s["passed"] is False
    assert s["generate"]["energy_per_token_j"] is None and "power not measured" in s["generate"]["energy_reason"]
    assert s["accuracy"]["top1"] is None and s["accuracy"]["reason"]


def test_energy_per_token_is_a_window_call_over_its_tokens():
    from edgeeval.evaluate.generative import _energy_per_token

    assert _energy_per_token({"e_total_mj": {"mean": 32.0}}, 16) == (0.002, None)
    assert _energy_per_token({"e_total_mj": {"mean": None}, "reason": "no sensor"}, 16) == (None, "no sensor")


def test_the_summary_is_a_pure_function():
    dev, ref = _outputs(flip=0.1, nll_shift=0.02)
    a = generative_summary(_event(), dev, ref, None, {"min_token_agreement": 0.5})
    b = generative_summary(_event(), dev, ref, None, {"min_token_agreement": 0.5})
    assert a == b


def _job():
    return {"task": "generate", "timing": {"max_runs": 1000, "max_seconds": 60}, "generate": {}}


def test_a_board_claiming_more_decode_steps_than_tokens_is_refused():
    ev = _event()
    ok = check_result(copy.deepcopy(ev), _job(), "board1", 60)
    assert ok["generate"]["prompts"]["tokens"] == [5] * 6
    ev["latencies_ns"].append(100_000)
    with pytest.raises(BoardProtocolError, match="25 decode steps for 30 tokens over 6 prompts"):
        check_result(ev, _job(), "board1", 60)
    ev = _event()
    ev["generate"]["prompts"]["tokens"][0] = 0
    with pytest.raises(BoardProtocolError, match="generate.prompts.tokens"):
        check_result(ev, _job(), "board1", 60)
    ev = _event()
    del ev["generate"]["ttft_cold_ns"]
    with pytest.raises(BoardProtocolError, match="ttft_cold_ns"):
        check_result(ev, _job(), "board1", 60)


def test_operations_per_token_are_counted_by_hand_on_the_tiny_decoder(tmp_path):
    """2 x the weight MACs per token: per layer q, k, v, o (64x64) and up/down (64x128), then the
    output head (64x96); the same after int4 quantization."""
    from edgeeval.evaluate.ops import ops_per_token
    from edgeeval.recipes.generative import quantize_int4
    from edgeeval.testing import tinylm

    hand = 2 * (tinylm.LAYERS * (4 * 64 * 64 + 2 * 64 * 128) + 64 * tinylm.VOCAB)
    fp32 = tinylm.build(tmp_path / "lm.onnx")
    got = ops_per_token(fp32)
    assert got["ops"] == hand and got["complete"] is False and "attention" in got["basis"]
    quantize_int4(fp32, tmp_path / "int4.onnx", {"block_size": 32, "symmetric": True, "accuracy_level": 0})
    assert ops_per_token(tmp_path / "int4.onnx")["ops"] == hand
