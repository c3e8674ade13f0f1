"""`edgeeval devices list | check | trust | clean | quarantine | restore | release`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import StoreOpt, cli_errors, out_console, resolve_inventory

app = typer.Typer(no_args_is_help=True)
InvOpt = Annotated[Optional[Path], typer.Option("--inventory", "-i", metavar="PATH", envvar="EDGEEVAL_INVENTORY", help="Inventory YAML file or folder (default: ./devices/).")]


@app.command("list", help="List the devices of the inventory (the built-in `local` included).")
def list_cmd(inventory: InvOpt = None, as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    with cli_errors():
        from ..devices.inventory import load_inventory

        inv = load_inventory(resolve_inventory(inventory))
        rows = [d.model_dump(mode="json", exclude_none=True) for d in inv]
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        from rich.table import Table

        t = Table()
        for col in ("name", "ssh", "python", "workdir", "tags", "facts"):
            t.add_column(col)
        for d in inv:
            facts = d.facts.model_dump(exclude_none=True) if d.facts is not None else {}
            t.add_row(d.name, d.ssh or "(this machine)", d.python, d.workdir, ", ".join(d.tags or []),
                      ", ".join(f"{k}={v}" for k, v in facts.items()))
        out_console().print(t)


@app.command("check", help="Connect, probe the board and say exactly what is missing and how to fix it.")
def check_cmd(name: Annotated[str, typer.Argument(metavar="NAME", help="Device name.")], inventory: InvOpt = None,
              recipe: Annotated[Optional[Path], typer.Option("--recipe", "-r", metavar="RECIPE", help="Check for what this recipe needs (ONNX Runtime and/or a TFLite interpreter).")] = None,
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    from ..errors import EXIT_DEVICE_ERROR

    with cli_errors():
        from ..agentclient import BoardSession
        from ..devices.check import analyse, blocking
        from ..devices.inventory import connect, load_inventory

        inv = load_inventory(resolve_inventory(inventory))
        dev = inv.get(name)
        with connect(dev) as transport:
            board = BoardSession(transport=transport, python=dev.python, workdir=dev.workdir, device=dev.name)
            board.push([])
            facts = board.probe(sysfs_root=dev.power.sysfs_root if dev.power else None)
        needs = {}
        if recipe is not None:   # what this recipe's variants need, without building anything
            from ..boardjob import onnx_runtimes
            from ..recipes.schema import load_recipe

            r = load_recipe(recipe)
            formats = {getattr(v, "format", "onnx") for v in r.variants}
            needs = {"runtimes_needed": onnx_runtimes(r.run.runtime.name) if "onnx" in formats else (),
                     "tflite": "tflite" in formats}
        findings = analyse(facts, python=dev.python, **needs)
        if recipe is not None and "gguf" in formats and not ((facts.get("runtimes") or {}).get("llama_cpp") or {}).get(
                "version"):
            from ..devices.check import Finding, _pip

            findings.append(Finding("llama_cpp", "warning", "not importable: this recipe's gguf variants will be "
                                    "skipped on this board", _pip(dev.python, "llama_cpp")))
        if dev.power is not None and dev.power.sensor == "auto":
            from ..devices.check import Finding

            _, chosen = dev.power.resolve(facts)
            findings.append(Finding("power: {sensor: auto}", "ok" if chosen["sensor"] != "none" else "warning",
                                    f"deploy will read {chosen['sensor']}"
                                    + (f" {chosen['chip']}" if chosen.get("chip") else "")
                                    + (f" (of {', '.join(chosen['candidates'])})" if chosen.get("candidates") else ""),
                                    chosen.get("reason", "")))
        missing = blocking(findings)
        if as_json:
            print(json.dumps({"device": dev.name, "facts": facts, "findings": [f.as_dict() for f in findings],
                              "ready": not missing}, indent=2))
        else:
            from rich.table import Table

            cpu = facts.get("cpu") or {}
            mem = facts.get("memory") or {}
            con = out_console()
            con.print(f"[bold]{dev.name}[/bold]: {facts.get('arch')} · {(facts.get('os') or {}).get('pretty_name', '?')} · "
                      f"kernel {(facts.get('kernel') or {}).get('release')} · {cpu.get('model')} ({cpu.get('logical_cores')} cores) · "
                      f"{(mem.get('total_kb') or 0) / 2**20:.1f} GiB RAM")
            t = Table()
            for col in ("item", "status", "detail", "fix"):
                t.add_column(col)
            style = {"ok": "green", "missing": "red", "warning": "yellow"}
            for f in findings:
                t.add_row(f.item, f"[{style[f.status]}]{f.status}[/]", f.detail, f.fix)
            con.print(t)
            for f in missing:   # one unwrapped line each, so the fix can be copied as it is
                con.print(f"[red]missing[/red] {f.item}: {f.detail}", soft_wrap=True)
                con.print(f"  fix: {f.fix}", soft_wrap=True, highlight=False, markup=False)
            con.print("[green]ready[/green]" if not missing else
                      f"[red]not ready[/red]: {len(missing)} thing(s) missing; fix them and run "
                      f"`edgeeval devices check {dev.name}` again", soft_wrap=True)
        if missing:
            raise typer.Exit(EXIT_DEVICE_ERROR)


@app.command("trust", help="Fetch the board's host key, show its fingerprint and add it to known_hosts.")
def trust_cmd(name: Annotated[str, typer.Argument(metavar="NAME", help="Device name.")], inventory: InvOpt = None,
              replace: Annotated[bool, typer.Option("--replace", help="Replace a CHANGED key (only after you verified it).")] = False,
              fingerprint: Annotated[Optional[str], typer.Option("--fingerprint", metavar="SHA256:…", help="Accept only the key with this fingerprint (read it on the board: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).")] = None,
              yes: Annotated[bool, typer.Option("--yes", help="Write the offered key without asking (no --fingerprint, no terminal).")] = False) -> None:
    with cli_errors():
        import sys

        from ..devices.inventory import load_inventory
        from ..devices.trust import trust
        from ..errors import UserInputError

        def confirm(question: str) -> bool:
            if yes:
                return True
            if not sys.stdin.isatty():
                raise UserInputError(f"{question} — no terminal to ask on: pass --fingerprint SHA256:… "
                                     "(read on the board: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) or --yes")
            return typer.confirm(question, default=False, err=True)

        inv = load_inventory(resolve_inventory(inventory))
        fp, path = trust(inv.get(name), replace=replace, fingerprint=fingerprint, confirm=confirm,
                         echo=lambda s: print(s, file=sys.stderr))
        out_console().print(f"trusted {name}: {fp} (written to {path})")


@app.command("clean", help="Empty the board's edgeeval cache and run folders (the next deploy pushes again).")
def clean_cmd(name: Annotated[str, typer.Argument(metavar="NAME", help="Device name.")], inventory: InvOpt = None) -> None:
    with cli_errors():
        from ..devices.inventory import connect, load_inventory
        from ..transport.boardcache import board_workdir, clean

        dev = load_inventory(resolve_inventory(inventory)).get(name)
        with connect(dev) as transport:
            done = clean(transport, dev.python, dev.workdir)
        out_console().print(f"{dev.name}: removed {done['files']} files, {done['freed_bytes'] / 1e6:.1f} MB "
                            f"from {board_workdir(dev.workdir)}/cache and /runs", soft_wrap=True)


@app.command("quarantine", help="Take a board out of the farm's service, with the reason (`restore` brings it back).")
def quarantine_cmd(name: Annotated[str, typer.Argument(metavar="NAME", help="Device name.")],
                   reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why (shown by `farm status`).")],
                   inventory: InvOpt = None, store: StoreOpt = None) -> None:
    with cli_errors():
        from ..devices.inventory import load_inventory
        from ..store import farm as fs
        from ..store.store import Store
        from ._common import store_url_of

        load_inventory(resolve_inventory(inventory)).get(name)
        with Store(store_url_of(store)) as st:
            fs.quarantine(st.engine, name, reason, by=_person())
        out_console().print(f"{name}: quarantined ({reason}); `edgeeval devices restore {name}` runs a health "
                            "check and returns it to service")


@app.command("restore", help="Health-check a quarantined board and return it to service when it passes "
                             "(--force: without a check).")
def restore_cmd(name: Annotated[str, typer.Argument(metavar="NAME", help="Device name.")], inventory: InvOpt = None,
                store: StoreOpt = None,
                force: Annotated[bool, typer.Option("--force", help="Return it without a health check.")] = False,
                rebaseline: Annotated[bool, typer.Option("--new-band", help="Forget the board's recorded latency band (new hardware or OS): the check records it again.")] = False) -> None:
    from ..errors import EXIT_DEVICE_ERROR

    with cli_errors():
        from ..devices.inventory import load_inventory
        from ..farm import health
        from ..farm.plan import Health
        from ..store import farm as fs
        from ..store.leases import acquire
        from ..store.store import Store
        from ._common import store_url_of

        dev = load_inventory(resolve_inventory(inventory)).get(name)
        con = out_console()
        with Store(store_url_of(store)) as st:
            if rebaseline:
                fs.forget_band(st.engine, name)
            if force:
                fs.restore(st.engine, name, by=_person() + " (--force, no check)")
                con.print(f"{name}: back in service (no health check was run)")
                return
            lease = acquire(st.engine, name, purpose="health check", job="devices restore", wait=False)
            try:
                state = fs.health_of(st.engine, name)
                out = health.check(dev, Health(), state["band_p50_ms"] if state else None)
                fs.record_check(st.engine, name, out.passed, out.detail, reason=out.reason, band_p50_ms=out.p50_ms,
                                by=_person() + " (devices restore)")
            finally:
                lease.release()
        if out.passed:
            con.print(f"{name}: health check passed (known model p50 {out.p50_ms:.3f} ms); back in service")
            return
        print(f"{name}: health check failed: {out.reason}; the board stays quarantined", file=sys.stderr)
        raise typer.Exit(EXIT_DEVICE_ERROR)


@app.command("release", help="Remove a board's lease left by a holder that is gone (a crashed controller); "
                             "a live holder on this machine is refused unless --force.")
def release_cmd(name: Annotated[str, typer.Argument(metavar="NAME", help="Device name.")], store: StoreOpt = None,
                force: Annotated[bool, typer.Option("--force", help="Also when the holder looks alive.")] = False) -> None:
    with cli_errors():
        import socket

        from ..errors import UserInputError
        from ..store.leases import break_lease, describe, holder_of
        from ..store.store import Store, _pid_alive
        from ._common import store_url_of

        con = out_console()
        with Store(store_url_of(store)) as st:
            holder = holder_of(st.engine, name)
            if holder is None:
                con.print(f"{name}: no live lease; nothing to release")
                return
            if (not force and holder["holder_host"] == socket.gethostname()
                    and _pid_alive(int(holder["holder_pid"]))):
                raise UserInputError(f"{name}: {describe(holder)}, and that process is alive on this machine; "
                                     "stop it, or pass --force")
            row = break_lease(st.engine, name)
        con.print(f"{name}: released the lease ({describe(row) if row else 'it had just ended'})")


@app.command("calibrate", help="A/A calibration: run the same job N times back to back on the board and store its "
                               "run-to-run noise per metric; `results compare` then includes it, and it says how long a "
                               "run must be to detect a given change.")
def calibrate_cmd(name: Annotated[str, typer.Argument(metavar="NAME", help="Device name.")],
                  recipe: Annotated[Path, typer.Option("--recipe", "-r", metavar="RECIPE", help="The job to calibrate with (the one you compare nightly).")],
                  runs: Annotated[int, typer.Option(metavar="N", min=3, max=100, help="Runs of the job (5 or more recommended).")] = 5,
                  variant: Annotated[Optional[list[str]], typer.Option("--variant", "-v", metavar="VARIANT", help="Only this variant (repeatable).")] = None,
                  profile: Annotated[Optional[str], typer.Option(metavar="PROFILE", help="quick, standard (default) or rigorous: calibrate with the profile the nightly uses.")] = None,
                  target: Annotated[float, typer.Option(metavar="PCT", min=0.1, max=100.0, help="The change to size run length for (default: 3% in p90).")] = 3.0,
                  min_runs: Annotated[Optional[int], typer.Option(metavar="N", min=1, help="Override the recipe's minimum timed runs.")] = None,
                  min_seconds: Annotated[Optional[float], typer.Option(metavar="SECONDS", min=0, help="Override the recipe's minimum timed seconds.")] = None,
                  warmup: Annotated[Optional[int], typer.Option(metavar="N", min=0, help="Override the recipe's warmup runs.")] = None,
                  inventory: InvOpt = None, store: StoreOpt = None,
                  wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the board's lease (default) or stop with exit code 3.")] = True,
                  as_json: Annotated[bool, typer.Option("--json", help="Print the calibration as JSON on stdout.")] = False) -> None:
    from ..errors import EXIT_DEVICE_ERROR

    with cli_errors():
        from ..regress.calibrate import calibrate
        from ._common import print_device_error, store_url_of
        from .pipeline import _scenario_overrides
        from .render import DeployProgress
        from .render_regress import calibration_table

        with DeployProgress(enabled=not as_json or sys.stderr.isatty()) as progress:
            doc = calibrate(recipe, name, runs=runs, inventory=resolve_inventory(inventory), only=variant or None,
                            store_url=store_url_of(store), scenario_overrides=_scenario_overrides(None, profile, False),
                            timing_overrides={"min_runs": min_runs, "min_seconds": min_seconds, "warmup": warmup},
                            notify=progress.notify, wait=wait, target_pct=target)
        err = doc.pop("error")
        if as_json:
            print(json.dumps(doc, indent=2, default=str))
        else:
            con = out_console()
            for c in doc["calibrations"]:
                con.print(calibration_table(doc, c))
        if err is not None:
            print_device_error(err)
            print(f"  kept: runs {', '.join(map(str, doc['run_ids'])) or 'none'}; no calibration stored "
                  f"({len(doc['run_ids'])} of {runs} runs finished)", file=sys.stderr)
            raise typer.Exit(EXIT_DEVICE_ERROR)


def _person() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown user"
    return f"{user}@{socket.gethostname()}"
