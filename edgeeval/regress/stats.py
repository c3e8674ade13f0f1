"""The statistics of an A/B comparison, on raw data: percentile ratios, throughput ratios, paired
accuracy, and the verdict rule that turns an interval into regressed / improved / unchanged / inconclusive.

Percentile ratio. The bootstrap distribution of a sample's k-th order statistic is known in closed
form: resampling n values, X*_(k) <= x_(i) exactly when at least k draws fall at or below x_(i), which
is Binomial(n, i/n) >= k, which is Beta(k, n-k+1) <= i/n. So one bootstrap replicate of a percentile
is x_(ceil(n*B)) with B ~ Beta — the bootstrap without resampling 100 000 latencies 4000 times.
Latencies are a time series, not independent draws (a slow stretch is followed by more slow calls),
so n is replaced by the effective sample size of the indicator 1{x <= q}, measured by batch means
(the variance of the indicator's block means against what independence predicts). With no
correlation that factor is 1 and this is the plain bootstrap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
REPLICATES = 4000
VERDICTS = ("regressed", "improved", "unchanged", "inconclusive", "noisy", "not compared")


def autocorrelation_factor(x: np.ndarray, q: float, p: float, blocks: int = 50) -> float:
    """Variance inflation of the sample p-quantile from serial correlation (>= 1; 1 = independent).

    The sample quantile's variance is p(1-p) tau / (n f(q)^2), tau the integrated autocorrelation
    time of 1{x_t <= q}; tau is estimated from `blocks` contiguous blocks (batch means).
    """
    n = x.size
    k = min(blocks, n // 20)
    if k < 5 or p <= 0 or p >= 1:
        return 1.0
    b = n // k
    ind = (x[: k * b] <= q).reshape(k, b).mean(axis=1)
    iid = p * (1 - p) / b
    tau = float(ind.var(ddof=1)) / iid if iid > 0 else 1.0
    return max(1.0, min(tau, n / 10.0))


def quantile_replicates(x: np.ndarray, p: float, rng: np.random.Generator, m: int = REPLICATES) -> tuple[float, np.ndarray, float]:
    """(sample p-quantile, m bootstrap replicates of it, effective sample size) of the series `x`."""
    x = np.asarray(x, dtype=np.float64).ravel()
    s = np.sort(x)
    n = s.size
    point = float(np.quantile(s, p, method="linear"))
    n_eff = n / autocorrelation_factor(x, point, p)
    a, b = p * (n_eff + 1), (1 - p) * (n_eff + 1)
    u = rng.beta(a, b, size=m)
    # the empirical quantile function at u, interpolated between order statistics
    pos = np.clip(u * (n - 1), 0, n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    reps = s[lo] + (pos - lo) * (s[hi] - s[lo])
    return point, reps, n_eff


def ratio_interval(a_reps: np.ndarray, b_reps: np.ndarray, confidence: float = CONFIDENCE) -> list[float]:
    """Percentile interval of b/a from independent replicates of each."""
    r = b_reps / a_reps
    alpha = 1 - confidence
    return [float(np.quantile(r, alpha / 2)), float(np.quantile(r, 1 - alpha / 2))]


def percentile_ratio(a: np.ndarray, b: np.ndarray, p: float, *, confidence: float = CONFIDENCE,
                     seed: int = 0, m: int = REPLICATES) -> dict:
    """{"a", "b", "ratio", "ci", "n_eff"} for the p-quantiles of two latency series (b over a)."""
    rng = np.random.default_rng(seed)
    qa, ra, na = quantile_replicates(a, p, rng, m)
    qb, rb, nb = quantile_replicates(b, p, rng, m)
    return {"a": qa, "b": qb, "ratio": qb / qa if qa > 0 else None,
            "ci": ratio_interval(ra, rb, confidence) if qa > 0 else None, "n_eff": [na, nb]}


def mean_replicates(x: np.ndarray, rng: np.random.Generator, m: int = REPLICATES, blocks: int = 20) -> tuple[float, np.ndarray]:
    """(mean, m replicates from its batch-means Student t distribution) of the series `x`."""
    x = np.asarray(x, dtype=np.float64).ravel()
    k = min(blocks, x.size // 2)
    mean = float(x.mean())
    if k < 2:
        return mean, np.full(m, np.nan)
    bm = np.array([c.mean() for c in np.array_split(x, k)])
    se = float(bm.std(ddof=1)) / math.sqrt(k)
    return mean, mean + se * rng.standard_t(k - 1, size=m)


def throughput_ratio(a_ns: np.ndarray, b_ns: np.ndarray, spc_a: int = 1, spc_b: int = 1, *,
                     confidence: float = CONFIDENCE, seed: int = 1, m: int = REPLICATES) -> dict:
    """Samples/s of b over a from the per-call times (samples per call `spc`), batch-means interval."""
    rng = np.random.default_rng(seed)
    ma, ra = mean_replicates(a_ns, rng, m)
    mb, rb = mean_replicates(b_ns, rng, m)
    ta, tb = spc_a * 1e9 / ma, spc_b * 1e9 / mb
    ok = (ra > 0) & (rb > 0)
    ci = None
    if ok.sum() > m * 0.99:
        r = (spc_b / rb[ok]) / (spc_a / ra[ok])
        alpha = 1 - confidence
        ci = [float(np.quantile(r, alpha / 2)), float(np.quantile(r, 1 - alpha / 2))]
    return {"a": ta, "b": tb, "ratio": tb / ta, "ci": ci}


def summary_ratio(a: float, a_ci, b: float, b_ci, *, confidence: float = CONFIDENCE) -> dict:
    """b/a when only the stored value and interval are known: log-normal from each interval."""
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + confidence / 2))

    def se_log(v, ci):
        if not ci or ci[0] is None or ci[1] is None or ci[0] <= 0 or ci[1] <= 0:
            return None
        return (math.log(ci[1]) - math.log(ci[0])) / (2 * z)

    sa, sb = se_log(a, a_ci), se_log(b, b_ci)
    ratio = b / a if a else None
    if ratio is None or sa is None or sb is None or ratio <= 0:
        return {"a": a, "b": b, "ratio": ratio, "ci": None}
    half = z * math.hypot(sa, sb)
    return {"a": a, "b": b, "ratio": ratio, "ci": [ratio * math.exp(-half), ratio * math.exp(half)]}


def widen_ratio(ratio: float, ci: list[float], run_cv: float | None, confidence: float = CONFIDENCE,
                df: int | None = None) -> list[float]:
    """`ci` of a ratio with the board's run-to-run spread (relative sd of one run) added in log space:
    a ratio of two runs carries that spread twice. With `df` (calibration runs - 1) the spread is an
    estimate from that many degrees of freedom, and Student's t quantile replaces the normal one: a
    5-run calibration's sd is itself uncertain, and the normal quantile would cover ~88%, not 95%."""
    if not run_cv or ratio is None or ci is None:
        return ci
    from scipy import stats

    q = 0.5 + confidence / 2
    z = float(stats.norm.ppf(q))
    zr = float(stats.t.ppf(q, df)) if df else z
    lo, hi = math.log(ci[0] / ratio), math.log(ci[1] / ratio)
    extra = (zr * math.sqrt(2) * math.log1p(run_cv)) ** 2
    return [ratio * math.exp(-math.sqrt(lo * lo + extra)), ratio * math.exp(math.sqrt(hi * hi + extra))]


def paired_accuracy(correct_a: np.ndarray, correct_b: np.ndarray, *, confidence: float = CONFIDENCE) -> dict:
    """McNemar on per-sample correctness of the same samples: difference b - a in points, an exact
    conditional interval (Clopper-Pearson on the discordant pairs) and the exact two-sided p-value."""
    from scipy import stats

    ca, cb = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    n = int(ca.size)
    lost = int(np.count_nonzero(ca & ~cb))    # right on a, wrong on b
    won = int(np.count_nonzero(~ca & cb))
    d = lost + won
    diff = 100.0 * (won - lost) / n
    if d == 0:
        ci, pval = [0.0, 0.0], 1.0
    else:
        bt = stats.binomtest(won, d, 0.5)
        pval = float(bt.pvalue)
        lo, hi = bt.proportion_ci(confidence, method="exact")
        ci = [100.0 * d * (2 * lo - 1) / n, 100.0 * d * (2 * hi - 1) / n]
    return {"a": 100.0 * ca.mean(), "b": 100.0 * cb.mean(), "diff": diff, "ci": ci, "p_value": pval,
            "samples": n, "lost": lost, "won": won,
            "method": "McNemar exact (binomial on discordant pairs), Clopper-Pearson conditional interval"}


def paired_mean_diff(a: np.ndarray, b: np.ndarray, *, confidence: float = CONFIDENCE) -> dict:
    """Mean of b - a over paired samples with a Student t interval (per-sample fidelity)."""
    from scipy import stats

    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    n = d.size
    mean = float(d.mean())
    if n < 2 or not np.isfinite(d).all():
        return {"diff": mean, "ci": None}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return {"diff": mean, "ci": [mean - half, mean + half]}


@dataclass(frozen=True)
class Rule:
    """How a metric's interval becomes a verdict: `bad` is the direction that hurts ("up" for latency,
    "down" for throughput and accuracy); `threshold` is the smallest change that matters, relative
    (0.03 = 3%) for ratios, in the metric's unit for differences."""
    bad: str
    threshold: float
    kind: str = "ratio"      # ratio (centre 1) | diff (centre 0)


def verdict(ci, rule: Rule) -> str:
    """regressed: the whole interval is past the threshold on the bad side; improved: past it on the good
    side; unchanged: the whole interval lies inside ±threshold; inconclusive: it straddles a threshold."""
    if ci is None or ci[0] is None or ci[1] is None:
        return "not compared"
    lo, hi = ci
    if rule.kind == "ratio":
        up, down = 1.0 + rule.threshold, 1.0 / (1.0 + rule.threshold)
    else:
        up, down = rule.threshold, -rule.threshold
    worse_past = lo > up if rule.bad == "up" else hi < down
    better_past = hi < down if rule.bad == "up" else lo > up
    if worse_past:
        return "regressed"
    if better_past:
        return "improved"
    if lo >= down and hi <= up:
        return "unchanged"
    return "inconclusive"
