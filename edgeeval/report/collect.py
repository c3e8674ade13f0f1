"""What a report covers, from the store alone: run ids, a farm campaign, a recipe since a date, or
the latest run; each run as the one run document (results_json.run_json) `deploy --json` prints."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from ..errors import UserInputError
from ..results_json import run_json
from ..store.schema import runs

LIMIT = 5000


def _since(text: str) -> str:
    try:
        d = datetime.fromisoformat(text) if "T" in text else datetime.combine(date.fromisoformat(text), datetime.min.time())
    except ValueError:
        raise UserInputError(f"--since {text!r} is not a date: give YYYY-MM-DD or an ISO 8601 time") from None
    return d.isoformat()


def select_runs(store, run_ids: list[int] | None = None, *, campaign: str | None = None,
                recipe: str | None = None, since: str | None = None, device: str | None = None) -> dict:
    """{"runs": [run document, oldest first], "selector": what was asked, in words}."""
    chosen = [s for s, v in (("run ids", run_ids), ("--campaign", campaign), ("--recipe", recipe)) if v]
    if len(chosen) > 1:
        raise UserInputError(f"give one selector, not {' and '.join(chosen)}: run ids, --campaign NAME, or "
                             "--recipe NAME [--since DATE]")
    if since and not recipe:
        raise UserInputError("--since needs --recipe NAME (the series it cuts)")
    if run_ids:
        ids, words = sorted(set(run_ids)), "runs " + ", ".join(map(str, sorted(set(run_ids))))
    elif campaign:
        ids, words = _campaign_runs(store, campaign), f"campaign {campaign}"
    elif recipe:
        q = select(runs.c.id).where(runs.c.recipe_name == recipe).order_by(runs.c.id).limit(LIMIT)
        if since:
            q = q.where(runs.c.created_at >= _since(since))
        if device:
            q = q.where(runs.c.device_name == device)
        with store.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(q)]
        words = f"recipe {recipe}" + (f" on {device}" if device else "") + (f" since {since}" if since else "")
        if not ids:
            raise UserInputError(f"no stored run of recipe {recipe!r}" + (f" on {device!r}" if device else "")
                                 + (f" since {since}" if since else "") + "; `edgeeval results list` shows what is there")
    else:
        latest = store.list_runs(limit=1, device=device)
        if not latest:
            raise UserInputError("the store has no run yet: `edgeeval deploy RECIPE` makes one")
        ids, words = [latest[0]["id"]], f"the latest run ({latest[0]['id']})"
    return {"runs": [run_json(r) for r in store.get_runs(ids)], "selector": words}   # an unknown id: exit 2


def _campaign_runs(store, name: str) -> list[int]:
    from ..store import farm as fs

    row = fs.get_campaign(store.engine, name)
    if row is None:
        known = [c["name"] for c in fs.list_campaigns(store.engine, 10)]
        raise UserInputError(f"campaign {name!r} is not in the store; recent ones: {', '.join(known) or 'none'} "
                             "(edgeeval farm status lists them)")
    ids = sorted({j["run_id"] for j in fs.campaign_jobs(store.engine, row["id"]) if j.get("run_id")})
    if not ids:
        raise UserInputError(f"campaign {name!r} has no finished job with a stored run yet")
    return ids
