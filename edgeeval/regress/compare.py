"""A/B comparison of two stored runs, variant by variant, from their raw data.

Every metric gets a value on each side, the change (a ratio b/a, or a difference b - a), a 95%
interval for it and a verdict by `stats.verdict`. Comparisons across hardware are refused unless the
caller allows them (then labelled); software changes are listed beside the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserInputError
from . import identity
from .stats import (
    CONFIDENCE,
    Rule,
    paired_accuracy,
    paired_mean_diff,
    percentile_ratio,
    summary_ratio,
    throughput_ratio,
    verdict,
    widen_ratio,
)

PERF_METRICS = ("p50_ms", "p90_ms", "p99_ms", "throughput")
RANK = {"regressed": 0, "inconclusive": 1, "noisy": 2, "improved": 3, "unchanged": 4, "not compared": 5}


@dataclass
class Thresholds:
    """The smallest change that matters: relative for latency, throughput and energy; points of
    accuracy; absolute for the mean cosine against the server baseline."""
    perf: float = 0.03
    accuracy_pt: float = 0.5
    cosine: float = 0.001
    energy: float = 0.05
    perplexity: float = 0.01      # language models: relative

    def describe(self) -> str:
        return (f"latency/throughput ±{self.perf * 100:g}%, energy ±{self.energy * 100:g}%, "
                f"accuracy ±{self.accuracy_pt:g} pt, cosine ±{self.cosine:g}, perplexity ±{self.perplexity * 100:g}%")


@dataclass
class Side:
    run: dict
    variant: dict
    store: object
    _raw: dict = field(default_factory=dict)

    @property
    def summary(self) -> dict:
        return self.variant.get("summary") or {}

    def raw(self, kind: str):
        if kind not in self._raw:
            self._raw[kind] = (self.store.get_raw(self.variant["id"], kind)
                               if kind in (self.variant.get("raw_kinds") or []) else None)
        return self._raw[kind]

    def flags(self) -> list[str]:
        return window_flags(self.summary)


def window_flags(s: dict) -> list[str]:
    """What disturbed a variant's timed window (a noisy machine, a throttling board), in words."""
    out = []
    if (s.get("noise") or {}).get("noisy"):
        out.append("noisy window: " + "; ".join((s["noise"].get("noisy_reasons") or [])[:2]))
    if (s.get("thermal") or {}).get("throttled"):
        out.append("the board throttled")
    return out


def _metric(name: str, unit: str, kind: str, a, b, change, ci, rule: Rule | None, method: str,
            reason: str | None = None, p_value=None, extra: dict | None = None) -> dict:
    v = verdict(ci, rule) if rule is not None and reason is None else "not compared"
    out = {"metric": name, "unit": unit, "kind": kind, "a": a, "b": b, "change": change, "ci": ci,
           "p_value": p_value, "threshold": None if rule is None else rule.threshold, "bad": None if rule is None else rule.bad,
           "verdict": v, "method": method, "reason": reason}
    out.update(extra or {})
    return out


def _skip(name: str, unit: str, kind: str, rule: Rule, method: str, reason: str) -> dict:
    return _metric(name, unit, kind, None, None, None, None, rule, method, reason=reason)


def _latencies(side: Side):
    x = side.raw("latencies_ns")
    return None if x is None else np.asarray(x, np.float64).ravel()


def _spc(side: Side) -> int:
    sc = side.summary.get("scenario") or {}
    return int((sc.get("throughput") or {}).get("samples_per_call") or 1)


def _perf_metrics(a: Side, b: Side, th: Thresholds, run_cv: dict, confidence: float, seed: int,
                  df: dict) -> list[dict]:
    la, lb = _latencies(a), _latencies(b)
    out = []
    noise_note = "" if run_cv else "; the board is not calibrated: run-to-run noise not included"
    for i, (name, p) in enumerate((("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99))):
        rule = Rule("up", th.perf)
        method = "bootstrap of the percentile (order statistics, autocorrelation-adjusted)"
        if la is None or lb is None or la.size < 20 or lb.size < 20:
            out.append(_skip(name, "ms", "ratio", rule, method, "a side has no stored raw latencies (or fewer than 20)"))
            continue
        if p == 0.99 and min(la.size, lb.size) < 1000:
            out.append(_metric(name, "ms", "ratio", float(np.quantile(la, p)) / 1e6, float(np.quantile(lb, p)) / 1e6,
                               None, None, rule, method, reason="p99 needs at least 1000 latencies per side"))
            continue
        r = percentile_ratio(la, lb, p, confidence=confidence, seed=seed + i)
        cv = run_cv.get(name)
        ci = widen_ratio(r["ratio"], r["ci"], cv, confidence, df.get(name))
        out.append(_metric(name, "ms", "ratio", r["a"] / 1e6, r["b"] / 1e6, r["ratio"], ci, rule,
                           method + (f" + run-to-run cv {cv:.2%} from calibration ({df.get(name, '?')} df, Student t)"
                                     if cv else noise_note),
                           extra={"n_eff": [round(x) for x in r["n_eff"]]}))
    rule = Rule("down", th.perf)
    name_a = (a.summary.get("scenario") or {}).get("name")
    if name_a == "server":
        out.append(_skip("throughput", "samples/s", "ratio", rule, "", "server scenario: the throughput is the offered load, not a measurement of speed"))
    elif name_a == "offline":
        ta = (a.summary.get("scenario") or {}).get("headline") or {}
        tb = (b.summary.get("scenario") or {}).get("headline") or {}
        r = summary_ratio(ta.get("value"), ta.get("ci"), tb.get("value"), tb.get("ci"), confidence=confidence)
        out.append(_metric("throughput", "samples/s", "ratio", r["a"], r["b"], r["ratio"],
                           widen_ratio(r["ratio"], r["ci"], run_cv.get("throughput"), confidence, df.get("throughput")), rule,
                           "best batch of the offline sweep, log-normal from each side's batch-means interval",
                           reason=None if r["ci"] else "a side has no throughput interval"))
    elif la is None or lb is None or la.size < 4 or lb.size < 4:
        out.append(_skip("throughput", "samples/s", "ratio", rule, "", "a side has no stored raw latencies"))
    else:
        r = throughput_ratio(la, lb, _spc(a), _spc(b), confidence=confidence, seed=seed + 7)
        out.append(_metric("throughput", "samples/s", "ratio", r["a"], r["b"], r["ratio"],
                           widen_ratio(r["ratio"], r["ci"], run_cv.get("throughput"), confidence, df.get("throughput")), rule,
                           "batch means of the per-call times (20 contiguous blocks, Student t)"))
    return out


def _correct(side: Side) -> np.ndarray | None:
    from ..evaluate.scoring import predictions

    labels, outs = side.raw("labels"), side.raw("device_outputs")
    scoring = side.summary.get("scoring") or (side.run.get("extra") or {}).get("scoring")
    if labels is None or outs is None or not scoring:
        return None
    try:
        pred = predictions(outs, scoring)
    except ValueError:
        return None
    labels = np.asarray(labels).ravel()
    return None if pred.shape[0] != labels.shape[0] else (np.asarray(pred).ravel() == labels)


def _accuracy_metric(a: Side, b: Side, th: Thresholds, same_data: bool, confidence: float) -> dict:
    rule = Rule("down", th.accuracy_pt, "diff")
    method = "McNemar exact on per-sample correctness"
    if not same_data:
        return _skip("top1", "%", "diff", rule, method, "the two runs scored different eval sets: a paired test needs the same samples")
    ca, cb = _correct(a), _correct(b)
    if ca is None or cb is None:
        why = ("not a classifier (no labels)" if a.raw("labels") is None
               else "a side has no stored outputs to score")
        return _skip("top1", "%", "diff", rule, method, why)
    if ca.shape != cb.shape:
        return _skip("top1", "%", "diff", rule, method, f"the sides scored {ca.size} and {cb.size} samples")
    r = paired_accuracy(ca, cb, confidence=confidence)
    return _metric("top1", "%", "diff", r["a"], r["b"], r["diff"], r["ci"], rule, r["method"], p_value=r["p_value"],
                   extra={"samples": r["samples"], "lost": r["lost"], "won": r["won"]})


def _cosines(side: Side) -> np.ndarray | None:
    from ..evaluate.fidelity import _cosines

    prim = ((side.summary.get("fidelity") or {}).get("primary") or {}).get("output")
    dev, base = side.raw("device_outputs"), side.raw("baseline_outputs")
    if not prim or dev is None or base is None or prim not in dev or prim not in base:
        return None
    d, r = np.asarray(dev[prim], np.float64), np.asarray(base[prim], np.float64)
    if d.shape != r.shape or d.ndim < 1:
        return None
    return _cosines(r.reshape(r.shape[0], -1), d.reshape(d.shape[0], -1))


def _fidelity_metric(a: Side, b: Side, th: Thresholds, same_data: bool, confidence: float) -> dict:
    rule = Rule("down", th.cosine, "diff")
    method = "paired per-sample cosine to the server FP32 output, Student t"
    if not same_data:
        return _skip("cosine_mean", "", "diff", rule, method, "the two runs used different eval sets")
    ca, cb = _cosines(a), _cosines(b)
    if ca is None or cb is None or ca.shape != cb.shape:
        return _skip("cosine_mean", "", "diff", rule, method, "a side has no stored outputs and baseline to compare")
    r = paired_mean_diff(ca, cb, confidence=confidence)
    ci = r["ci"] if r["ci"] is not None or r["diff"] != 0 else [0.0, 0.0]
    if ci is not None and ca.std() == 0 and cb.std() == 0:
        ci = [r["diff"], r["diff"]]
    return _metric("cosine_mean", "", "diff", float(ca.mean()), float(cb.mean()), r["diff"], ci, rule, method)


def _perplexity_metric(a: Side, b: Side, th: Thresholds, same_data: bool, confidence: float) -> dict:
    """A language model's quality, run against run: the perplexity ratio B/A on the same text pieces,
    a paired bootstrap over the pieces (evaluate/generative.py)."""
    from ..evaluate.generative import paired_ppl_change

    rule = Rule("up", th.perplexity)
    method = "perplexity ratio on the same text pieces, paired bootstrap over pieces"
    if not same_data:
        return _skip("perplexity", "", "ratio", rule, method, "the two runs scored different text sets")
    da, db, base = a.raw("device_outputs"), b.raw("device_outputs"), a.raw("baseline_outputs")
    if not (da and db and base) or "text_nll" not in da or "text_nll" not in db or "text_offsets" not in base:
        return _skip("perplexity", "", "ratio", rule, method, "a side has no stored text scores")
    na, nb = np.asarray(da["text_nll"], np.float64), np.asarray(db["text_nll"], np.float64)
    if na.shape != nb.shape:
        return _skip("perplexity", "", "ratio", rule, method, f"the sides scored {na.size} and {nb.size} tokens")
    pa, pb = float(np.exp(na.mean())), float(np.exp(nb.mean()))
    ci, why = paired_ppl_change(nb, na, base["text_offsets"], confidence)
    return _metric("perplexity", "", "ratio", pa, pb, pb / pa, None if ci is None else [1 + ci[0] / 100, 1 + ci[1] / 100],
                   rule, method, reason=why)


def _energy_metric(a: Side, b: Side, th: Thresholds, run_cv: dict, confidence: float, df: dict) -> dict:
    rule = Rule("up", th.energy)
    ea = (a.summary.get("power") or {}).get("e_total_mj") or {}
    eb = (b.summary.get("power") or {}).get("e_total_mj") or {}
    method = "energy per inference, log-normal from each side's window interval (Student t)"
    if ea.get("mean") is None or eb.get("mean") is None:
        return _metric("energy_mj", "mJ", "ratio", ea.get("mean"), eb.get("mean"), None, None, rule, method,
                       reason="energy was not measured on " + ("both sides" if ea.get("mean") is None and eb.get("mean") is None
                                                                else "one side"))
    r = summary_ratio(ea["mean"], ea.get("ci"), eb["mean"], eb.get("ci"), confidence=confidence)
    return _metric("energy_mj", "mJ", "ratio", r["a"], r["b"], r["ratio"],
                   widen_ratio(r["ratio"], r["ci"], run_cv.get("energy_mj"), confidence, df.get("energy_mj")), rule, method,
                   reason=None if r["ci"] else "a side has one power window only (no interval)")


def worst(verdicts) -> str:
    vs = [v for v in verdicts if v != "not compared"]
    return min(vs, key=RANK.get) if vs else "not compared"


def compare_variant(a: Side, b: Side, *, thresholds: Thresholds | None = None, run_cv: dict | None = None,
                    confidence: float = CONFIDENCE, seed: int = 0, run_df: dict | None = None) -> dict:
    """`run_cv` {metric: run-to-run cv} widens the intervals; `run_df` {metric: its degrees of freedom}."""
    th = thresholds or Thresholds()
    run_cv, run_df = run_cv or {}, run_df or {}
    sa, sb = identity.software_key(a.run, a.variant), identity.software_key(b.run, b.variant)
    same_data = sa["dataset_sha256"] == sb["dataset_sha256"] and sa["dataset_sha256"] is not None
    metrics = _perf_metrics(a, b, th, run_cv, confidence, seed, run_df)
    if a.summary.get("task") == "generate" or b.summary.get("task") == "generate":   # a language model
        metrics.append(_perplexity_metric(a, b, th, same_data, confidence))
    else:
        metrics.append(_accuracy_metric(a, b, th, same_data, confidence))
        metrics.append(_fidelity_metric(a, b, th, same_data, confidence))
    metrics.append(_energy_metric(a, b, th, run_cv, confidence, run_df))
    flags = [f"A: {f}" for f in a.flags()] + [f"B: {f}" for f in b.flags()]
    if flags:  # a disturbed window says nothing about the model: never a regression, reported as such
        for m in metrics:
            if m["metric"] in PERF_METRICS + ("energy_mj",) and m["verdict"] != "not compared":
                m["verdict_raw"], m["verdict"] = m["verdict"], "noisy"
                m["reason"] = "; ".join(flags)
    failed = [x for x in (a, b) if x.variant.get("status") == "error" or not x.summary]
    if failed:
        for m in metrics:
            m["verdict"] = "not compared"
        flags.append("a side has no result (variant error)")
    return {"variant": a.variant["name"], "a_variant_id": a.variant["id"], "b_variant_id": b.variant["id"],
            "software_changes": identity.differences(sa, sb), "flags": flags, "metrics": metrics,
            "verdict": worst(m["verdict"] for m in metrics)}


def compare_runs(store, run_a: int, run_b: int, *, variants: list[str] | None = None,
                 thresholds: Thresholds | None = None, allow_mixed: bool = False, run_cv: dict | None = None,
                 calibration: str | None = "auto", confidence: float = CONFIDENCE) -> dict:
    """The comparison document of two stored runs (B against A). UserInputError when they cannot be compared.

    `run_cv` ({metric: relative run-to-run sd}) widens every interval; without it, calibration="auto"
    takes the board's newest A/A calibration (`edgeeval devices calibrate`) per variant."""
    ra, rb = store.get_run(run_a), store.get_run(run_b)
    ha, hb = identity.hardware_key(ra), identity.hardware_key(rb)
    hw = identity.differences(ha, hb)
    sca = ((ra.get("settings") or {}).get("scenario") or {}).get("name")
    scb = ((rb.get("settings") or {}).get("scenario") or {}).get("name")
    problems = []
    if hw and not allow_mixed:
        problems.append(f"runs {run_a} and {run_b} were measured on different hardware ({identity.describe(hw)}); "
                        "a ratio across boards is not a regression — compare runs of one board, or pass "
                        "--allow-mixed to compare them labelled as mixed")
    if sca != scb and not allow_mixed:
        problems.append(f"runs {run_a} and {run_b} ran different scenarios ({sca} and {scb}); they measure different "
                        "things — compare runs of one scenario, or pass --allow-mixed")
    if ra.get("recipe_name") != rb.get("recipe_name") and not allow_mixed:
        problems.append(f"runs {run_a} and {run_b} are of different recipes ({ra.get('recipe_name')} and "
                        f"{rb.get('recipe_name')}); pass --allow-mixed to compare them anyway")
    if problems:
        raise UserInputError(problems)
    by_a = {v["name"]: v for v in ra["variants"]}
    by_b = {v["name"]: v for v in rb["variants"]}
    names = [n for n in by_a if n in by_b]
    if variants:
        missing = [n for n in variants if n not in by_a or n not in by_b]
        if missing:
            raise UserInputError(f"variant {', '.join(missing)} is not in both runs {run_a} and {run_b}; "
                                 f"both have: {', '.join(names) or 'none'}")
        names = [n for n in names if n in variants]
    if not names:
        raise UserInputError(f"runs {run_a} and {run_b} have no variant in common "
                             f"({', '.join(by_a) or 'none'} vs {', '.join(by_b) or 'none'})")
    rows = []
    for i, n in enumerate(names):
        cv, cal, df = run_cv, None, None
        if cv is None and calibration == "auto":
            from . import noise

            cal = noise.latest(store.engine, rb["device_name"], recipe=rb.get("recipe_name"), variant=n,
                               hardware_digest=identity.key_digest(hb))
            cv, df = noise.run_cv(cal), noise.run_df(cal)
        row = compare_variant(Side(ra, by_a[n], store), Side(rb, by_b[n], store), thresholds=thresholds,
                              run_cv=cv, run_df=df, confidence=confidence, seed=i * 101)
        row["calibration"] = None if cal is None else {
            "id": cal["id"], "created_at": cal["created_at"], "match": cal["match"], "runs": cal["runs"],
            "cv_run": {m: v.get("cv_run") for m, v in cal["metrics"].items()},
            "floor_pct": {m: v.get("floor_pct") for m, v in cal["metrics"].items()}}
        row["run_cv"] = cv or {}
        rows.append(row)
    only = sorted((set(by_a) ^ set(by_b)))
    return {"a": _run_head(ra), "b": _run_head(rb), "confidence": confidence,
            "thresholds": (thresholds or Thresholds()).__dict__, "mixed_hardware": hw,
            "calibrated": all(bool(r["run_cv"]) for r in rows), "variants": rows, "only_in_one": only,
            "verdict": worst(r["verdict"] for r in rows)}


def _run_head(run: dict) -> dict:
    return {"run_id": run["id"], "recipe": run.get("recipe_name"), "device": run.get("device_name"),
            "created_at": str(run.get("created_at")), "status": run.get("status"),
            "campaign": ((run.get("settings") or {}).get("farm") or {}).get("campaign")}


def exit_code(doc: dict) -> int:
    return 1 if doc["verdict"] == "regressed" else 0


def fmt_change(m: dict) -> str:
    """'×1.052 [1.041, 1.063]' for ratios, '−0.83 pt [−1.9, +0.3]' for differences."""
    if m["change"] is None:
        return "—"
    if m["kind"] == "ratio":
        ci = "" if not m["ci"] else f" [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]"
        return f"×{m['change']:.3f}{ci}"
    unit = " pt" if m["unit"] == "%" else ""
    prec = 2 if m["unit"] == "%" else 5
    ci = "" if not m["ci"] else f" [{m['ci'][0]:+.{prec}f}, {m['ci'][1]:+.{prec}f}]"
    return f"{m['change']:+.{prec}f}{unit}{ci}"


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
