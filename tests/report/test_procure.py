"""Procurement ranking: only boards that meet the requirement, a rank only where intervals separate,
unknown price or power shown as unknown, never as zero."""

import pytest

from edgeeval.errors import UserInputError
from edgeeval.report.procure import parse_require, procurement
from edgeeval.report.rows import KEYS


def _row(device, tput, ci, *, price=None, tdp=None, p90=5.0, drop=0.2, variant="int8", ipj=None, ipj_ci=None):
    r = dict.fromkeys(KEYS)
    r.update(recipe="m", device=device, variant=variant, run_id=1, throughput_ips=tput, throughput_ci_low_ips=ci[0],
             throughput_ci_high_ips=ci[1], price_usd=price, tdp_w=tdp, p90_ms=p90, accuracy_drop_pt=drop)
    if ipj is not None:
        r.update(perf_per_w=ipj, perf_per_w_basis="measured", perf_per_w_ci_low=ipj_ci[0], perf_per_w_ci_high=ipj_ci[1])
    elif tdp:
        r.update(perf_per_w=tput / tdp, perf_per_w_basis="tdp", perf_per_w_ci_low=ci[0] / tdp, perf_per_w_ci_high=ci[1] / tdp)
    return r


def test_ranks_need_separated_intervals_and_unknowns_are_said():
    rows = [_row("a", 200, (190, 210), price=100, tdp=10),       # perf/$ 2.0 [1.9, 2.1]
            _row("b", 195, (185, 205), price=100, tdp=5),        # 1.95: overlaps a -> shares rank 1
            _row("c", 100, (95, 105), price=100, ipj=30, ipj_ci=(29, 31)),   # 1.0: separated -> rank 2
            _row("d", 500, (480, 520)),                          # meets, but no price and no power
            _row("e", 900, (880, 920), price=50, p90=40.0),      # fails the requirement
            _row("f", 900, (880, 920), price=50, drop=None)]     # drop unknown: not known whether it meets
    (p,) = procurement(rows, parse_require("p90_ms<=20, accuracy_drop_pt<=1"))
    assert p["require"] == "p90_ms<=20, accuracy_drop_pt<=1"
    assert [(e["device"], e["perf_usd_rank"], e["perf_usd_tied"]) for e in p["by_usd"]] == [
        ("a", 1, True), ("b", 1, True), ("c", 2, False)]
    # perf/W: c measured 30 inf/J; b 39 [37, 41] and a 20 [19, 21] by TDP: three separate ranks
    assert [(e["device"], e["perf_w_rank"]) for e in p["by_w"]] == [("b", 1), ("c", 2), ("a", 3)]
    assert {e["device"] for e in p["meets"]} == {"a", "b", "c", "d"}
    d = next(e for e in p["meets"] if e["device"] == "d")
    assert d["perf_usd"] is None and d["perf_w"] is None and "d" not in [e["device"] for e in p["by_usd"]]
    assert [(e["device"], e["why"]) for e in p["fails"]] == [("e", "p90_ms 40 not <= 20")]
    assert [(e["device"], e["why"]) for e in p["unknown"]] == [("f", "accuracy_drop_pt unknown")]


def test_an_interval_less_entry_never_separates():
    rows = [_row("a", 200, (None, None), price=100), _row("b", 100, (95, 105), price=100)]
    (p,) = procurement(rows, None)
    assert [e["perf_usd_rank"] for e in p["by_usd"]] == [1, 1]


def test_require_mistakes_are_one_line_each():
    with pytest.raises(UserInputError) as e:
        parse_require("p90<=20,accuracy_drop_pt=<1,device==3")
    msgs = e.value.problems if hasattr(e.value, "problems") else [str(e.value)]
    text = "\n".join(map(str, msgs))
    assert "'p90' is not a numeric report column" in text and "p90_ms" in text
    assert "write COLUMN OP NUMBER" in text and "'device' is not a numeric" in text
