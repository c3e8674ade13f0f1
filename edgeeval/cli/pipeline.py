"""build, deploy and baseline commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import cli_errors, err_console, out_console, resolve_inventory

RecipeArg = Annotated[Path, typer.Argument(help="Recipe YAML, e.g. recipes/digits-cnn.yaml.")]
VariantOpt = Annotated[Optional[list[str]], typer.Option("--variant", "-v", help="Only this variant (repeatable).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")]


def build_cmd(recipe: RecipeArg, variant: VariantOpt = None,
              force: Annotated[bool, typer.Option("--force", help="Rebuild even when cached.")] = False,
              as_json: JsonOpt = False) -> None:
    from .render import build_table

    with cli_errors():
        from ..recipes.build import build

        con = err_console()
        res = build(recipe, only=variant or None, force=force,
                    progress=lambda ev: con.print(f"[dim]{_build_event_text(ev)}[/dim]") if not as_json else None)
        if as_json:
            print(json.dumps(res.manifest, indent=2, default=str))
        else:
            out_console().print(build_table(res))


def _build_event_text(ev) -> str:
    if isinstance(ev, dict):
        return " ".join(f"{k}={v}" for k, v in ev.items())
    return str(ev)


def baseline_cmd(recipe: RecipeArg, as_json: JsonOpt = False) -> None:
    with cli_errors():
        from ..baseline import server_baseline
        from ..recipes.build import build

        res = build(recipe)
        base = server_baseline(res)
        info = {"model_sha256": base.model_sha256, "dataset_sha256": base.dataset_sha256,
                "outputs": {k: list(v.shape) for k, v in base.outputs.items()},
                "cached": base.cached, "path": str(base.path)}
        if as_json:
            print(json.dumps(info, indent=2))
        else:
            out_console().print(f"server baseline for {recipe}: {'cached' if base.cached else 'computed'}\n"
                                f"  model sha256   {base.model_sha256}\n  dataset sha256 {base.dataset_sha256}\n"
                                f"  outputs        {info['outputs']}\n  stored at      {base.path}", soft_wrap=True)


def deploy_cmd(
    recipe: RecipeArg,
    device: Annotated[str, typer.Option("--device", "-d", help="Device name from the inventory; `local` runs on this machine.")] = "local",
    inventory: Annotated[Optional[Path], typer.Option("--inventory", "-i", help="Inventory YAML file or folder (default: ./devices/).")] = None,
    variant: VariantOpt = None,
    store: Annotated[Optional[str], typer.Option("--store", help="Results store: SQLite path or SQLAlchemy URL (default $EDGEEVAL_STORE or ~/.edgeeval/results.db).", envvar="EDGEEVAL_STORE")] = None,
    min_runs: Annotated[Optional[int], typer.Option(help="Override the recipe's minimum timed runs.", min=1)] = None,
    min_seconds: Annotated[Optional[float], typer.Option(help="Override the recipe's minimum timed seconds.", min=0)] = None,
    warmup: Annotated[Optional[int], typer.Option(help="Override the recipe's warmup runs.", min=0)] = None,
    scenario: Annotated[Optional[str], typer.Option(help="single-stream (default), multi-stream, offline or server; overrides the recipe's run.scenario.name.")] = None,
    profile: Annotated[Optional[str], typer.Option(help="quick, standard (default) or rigorous (MLPerf-like: >= 600 s and MLPerf's minimum query counts).")] = None,
    find_max_qps: Annotated[bool, typer.Option("--find-max-qps", help="Server scenario: search the highest QPS whose p99 meets the latency bound.")] = False,
    as_json: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show remote tracebacks in full.")] = False,
) -> None:
    from ..errors import EXIT_DEVICE_ERROR, EXIT_GATE_FAILED
    from .render import DeployProgress, deploy_report

    with cli_errors(verbose):
        from ..deploy import deploy
        from ..paths import store_url

        url = None
        if store:
            url = store if "://" in store else f"sqlite:///{Path(store).expanduser().resolve()}"
        with DeployProgress(enabled=not as_json or sys.stderr.isatty()) as progress:
            outcome = deploy(recipe, device, inventory=resolve_inventory(inventory), only=variant or None,
                             store_url=url or store_url(),
                             timing_overrides={"min_runs": min_runs, "min_seconds": min_seconds, "warmup": warmup},
                             scenario_overrides=_scenario_overrides(scenario, profile, find_max_qps),
                             notify=progress.notify)
        report = deploy_report(outcome)
        if as_json:
            print(json.dumps(report, indent=2, default=str))
        else:
            from .render import print_deploy
            print_deploy(out_console(), report)
        if outcome.error is not None:
            from ._common import print_device_error
            print_device_error(outcome.error, verbose)
            if outcome.variants:
                print(f"  kept: {len(outcome.variants)} finished variant(s) stored as run {outcome.run_id}",
                      file=sys.stderr)
            raise typer.Exit(EXIT_DEVICE_ERROR)
        if not outcome.passed:
            raise typer.Exit(EXIT_GATE_FAILED)


def _scenario_overrides(scenario: str | None, profile: str | None, find_max_qps: bool) -> dict:
    """--scenario / --profile / --find-max-qps, checked here so a typo exits 2 with the choices."""
    from ..errors import UserInputError
    from ..recipes.scenarios import PROFILES, SCENARIO_DEFAULTS

    problems = []
    if scenario is not None and scenario not in SCENARIO_DEFAULTS:
        problems.append(f"--scenario {scenario!r}: use one of {', '.join(SCENARIO_DEFAULTS)}")
    if profile is not None and profile not in PROFILES:
        problems.append(f"--profile {profile!r}: use one of {', '.join(PROFILES)}")
    if problems:
        raise UserInputError(problems)
    return {"name": scenario, "profile": profile, "find_max_qps": find_max_qps or None}
