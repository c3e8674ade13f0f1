"""Which two stored runs a comparison is between: run ids, or selectors a nightly job can name
without knowing ids — `latest` for the candidate, `previous` or `last-good` for the baseline."""

from __future__ import annotations

from ..errors import UserInputError

CANDIDATES = ("latest",)
BASELINES = ("previous", "last-good")
SCAN = 500   # runs looked back over for a baseline


def _good(run: dict) -> bool:
    """A run a regression can be measured against: finished ok, every variant with a result on a quiet,
    unthrottled board."""
    if run.get("status") != "ok":
        return False
    for v in run.get("variants") or []:
        s = v.get("summary") or {}
        if v.get("status") == "error" or not s:
            return False
        if (s.get("noise") or {}).get("noisy") or (s.get("thermal") or {}).get("throttled"):
            return False
    return True


def _as_id(sel: str) -> int | None:
    return int(sel) if sel.isdigit() else None


def resolve(store, baseline: str, candidate: str, *, recipe: str | None, device: str | None) -> tuple[int, int]:
    """(baseline run id, candidate run id). A selector needs --recipe and --device unless the other
    side is a run id, whose recipe and device it then takes."""
    cid, bid = _as_id(candidate), _as_id(baseline)
    problems = []
    if cid is None and candidate not in CANDIDATES:
        problems.append(f"--candidate {candidate!r}: give a run id or one of {', '.join(CANDIDATES)}")
    if bid is None and baseline not in BASELINES:
        problems.append(f"--baseline {baseline!r}: give a run id or one of {', '.join(BASELINES)}")
    if problems:
        raise UserInputError(problems)
    if cid is not None:
        crun = store.get_run(cid)
        recipe = recipe or crun.get("recipe_name")
        device = device or crun.get("device_name")
    elif recipe is None or device is None:
        raise UserInputError("--candidate latest needs --recipe NAME and --device NAME (the series to take the "
                             "latest run of); or give two run ids: `edgeeval results compare A B`")
    else:
        rows = [r for r in store.list_runs(limit=SCAN, recipe=recipe, device=device)
                if r.get("status") not in ("running", "aborted")]
        if not rows:
            raise UserInputError(f"no finished run of recipe {recipe!r} on device {device!r} in the store; "
                                 "`edgeeval results list` shows what is there")
        cid = int(rows[0]["id"])
    if bid is not None:
        return bid, cid
    older = [r for r in store.list_runs(limit=SCAN, recipe=recipe, device=device)
             if int(r["id"]) < cid and r.get("status") not in ("running", "aborted")]
    if baseline == "previous":
        if not older:
            raise UserInputError(f"run {cid} is the first finished run of {recipe!r} on {device!r}: there is no "
                                 "previous run to compare with")
        return int(older[0]["id"]), cid
    for r in older:
        if r.get("status") == "ok" and _good(store.get_run(int(r["id"]))):
            return int(r["id"]), cid
    raise UserInputError(f"no earlier good run of {recipe!r} on {device!r} before run {cid} (good: status ok, "
                         "every variant measured on a quiet, unthrottled board); give --baseline RUN_ID")
