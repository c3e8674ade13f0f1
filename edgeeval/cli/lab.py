"""`edgeeval lab up N | status | down`: a virtual lab of real sshd boards on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import cli_errors, out_console

app = typer.Typer(no_args_is_help=True)
DirOpt = Annotated[Optional[Path], typer.Option("--dir", metavar="DIR", help="The lab's folder (default ~/.edgeeval/lab).")]


@app.command("up", help="Start N real OpenSSH boards on this machine, trusted in a private known_hosts, "
                        "and write their inventory.")
def up_cmd(n: Annotated[int, typer.Argument(metavar="N", help="How many boards (1-64).")], folder: DirOpt = None,
           synthetic: Annotated[Optional[float], typer.Option("--synthetic", metavar="MS", help="The boards run the synthetic runtime: each call sleeps a lognormal duration with this median (ms), no CPU used, so many boards share few cores.", min=0.001)] = None,
           loss: Annotated[Optional[float], typer.Option("--loss", metavar="PCT", help="Drop this percentage of packets each way (iptables statistic; root).")] = None,
           rate: Annotated[Optional[str], typer.Option("--rate", metavar="RATE", help="Limit each board's link, e.g. 10mbit (tbf; root).")] = None,
           delay: Annotated[Optional[float], typer.Option("--delay", metavar="MS", help="One-way delay (needs netem in the kernel; root).")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print the lab as JSON.")] = False) -> None:
    with cli_errors():
        from ..farm import lab

        rec = lab.up(n, folder, synthetic_ms=synthetic, loss_pct=loss, rate=rate, delay_ms=delay)
        if as_json:
            print(json.dumps(rec, indent=2))
            return
        con = out_console()
        inv = rec["inventory"]
        con.print(f"{n} virtual boards up ({', '.join(b['name'] for b in rec['boards'])}), tags lab, virtual"
                  + (f"; synthetic runtime, median {synthetic:g} ms" if synthetic else "")
                  + (f"; links: loss {loss or 0:g}%, rate {rate or 'unlimited'}" if (loss or rate) else ""),
                  soft_wrap=True)
        con.print(f"inventory: {inv}\n"
                  f"  edgeeval devices check vb01 -i {inv}\n"
                  f"  edgeeval deploy recipes/digits-cnn.yaml -d vb01 -i {inv}\n"
                  f"  edgeeval farm run PLAN -i {inv}      (selectors: tag:lab)\n"
                  f"  edgeeval lab down" + (f" --dir {rec['dir']}" if folder else ""), soft_wrap=True)


@app.command("status", help="The lab's boards and whether each sshd still runs.")
def status_cmd(folder: DirOpt = None) -> None:
    with cli_errors():
        from ..errors import UserInputError
        from ..farm import lab

        rec = lab.status(folder)
        if rec is None:
            raise UserInputError(f"no lab in {folder or lab.default_dir()}; `edgeeval lab up N` starts one")
        for b in rec["boards"]:
            out_console().print(f"{b['name']}  {b['host']}:{b['port']}  pid {b['pid']}  "
                                f"{'up' if b['alive'] else 'DOWN'}" + (f"  netns {b['netns']}" if b.get("netns") else ""))
        out_console().print(f"inventory: {rec['inventory']}", soft_wrap=True)


@app.command("down", help="Stop the lab's boards and remove its folder and namespaces.")
def down_cmd(folder: DirOpt = None) -> None:
    with cli_errors():
        from ..farm import lab

        n = lab.down(folder)
        out_console().print(f"stopped {n} board(s)")
