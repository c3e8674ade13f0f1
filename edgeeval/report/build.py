"""The report document: the selected runs, their rows and provenance — what every format renders."""

from __future__ import annotations

import json

from ..store.store import utc_now
from .collect import select_runs
from .rows import rows_of


def build(store, run_ids: list[int] | None = None, *, campaign: str | None = None, recipe: str | None = None,
          since: str | None = None, device: str | None = None, command: str = "edgeeval report",
          require: str | None = None) -> dict:
    from .procure import parse_require, procurement

    req = parse_require(require) if require else None   # a mistake in it is said before the store is read
    sel = select_runs(store, run_ids, campaign=campaign, recipe=recipe, since=since, device=device)
    runs = sel["runs"]
    prov = [{"run_id": r["run_id"], "recipe": r["recipe"], "device": r["device"], "created_at": r["created_at"],
             "status": r["status"], **{k: (r.get("provenance") or {}).get(k) for k in
                                        ("edgeeval_version", "git_sha", "agent_sha256", "recipe_hash", "dataset_sha256")}}
            for r in runs]
    # each board's facts and each distinct settings once (a campaign repeats them every night)
    boards: dict[str, dict] = {}
    settings: dict[str, dict] = {}
    for r in runs:   # oldest first: the newest run's facts win
        boards[r["device"]] = {"device_facts": r.get("device_facts"), "declared_facts": r.get("declared_facts"),
                               "as_of_run": r["run_id"]}
        key = json.dumps(r.get("settings"), sort_keys=True, default=str)
        settings.setdefault(key, {"settings": r.get("settings"), "runs": []})["runs"].append(r["run_id"])
    rows = rows_of(runs)
    return {"selector": sel["selector"], "runs": runs, "rows": rows, "provenance": prov, "boards": boards,
            "settings": list(settings.values()),
            "procurement": procurement(rows, req), "generated_at": utc_now(), "command": command}
