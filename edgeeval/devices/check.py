"""Turn an agent probe into findings: what the board has, what is missing, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

MIN_PYTHON = (3, 8)
MIN_FREE_BYTES = 200 * 1024 * 1024


@dataclass
class Finding:
    item: str
    status: str          # ok | missing | warning
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return {"item": self.item, "status": self.status, "detail": self.detail, "fix": self.fix}


def _pip(python: str, pkg: str) -> str:
    return f"on the board: {python} -m pip install {pkg}"


def analyse(facts: dict, *, python: str, runtimes_needed: tuple[str, ...] = ("onnxruntime",),
            providers_needed: tuple[str, ...] = ()) -> list[Finding]:
    out: list[Finding] = []
    py = facts.get("python") or {}
    ver = str(py.get("version", ""))
    try:
        vt = tuple(int(x) for x in ver.split(".")[:2])
    except ValueError:
        vt = (0, 0)
    if vt >= MIN_PYTHON:
        out.append(Finding("python", "ok", f"{ver} at {py.get('executable', python)}"))
    else:
        out.append(Finding("python", "missing", f"{ver or 'unknown'}: the agent needs Python >= 3.8",
                           "install python3 >= 3.8 and set `python:` in the inventory"))
    np_ = facts.get("numpy") or {}
    if np_.get("version"):
        out.append(Finding("numpy", "ok", np_["version"]))
    else:
        out.append(Finding("numpy", "missing", np_.get("error", "not importable"), _pip(python, "numpy")))
    runtimes = facts.get("runtimes") or {}
    for name in runtimes_needed:
        info = runtimes.get(name) or {}
        if info.get("version"):
            provs = info.get("providers") or []
            out.append(Finding(name, "ok", f"{info['version']}" + (f"; providers {', '.join(provs)}" if provs else "")))
            for p in providers_needed:
                if p not in provs:
                    out.append(Finding(f"{name} provider {p}", "missing",
                                       f"not in {provs}", f"install an {name} build that has {p}"))
        else:
            out.append(Finding(name, "missing", info.get("error", "not importable"), _pip(python, name)))
    for name, info in runtimes.items():
        if name not in runtimes_needed and (info or {}).get("version"):
            out.append(Finding(name, "ok", str(info["version"])))
    disk = facts.get("disk") or {}
    free = disk.get("free_bytes")
    if free is None:
        out.append(Finding("disk", "warning", disk.get("reason", "free space unknown")))
    elif free < MIN_FREE_BYTES:
        out.append(Finding("disk", "missing", f"{free / 2**20:.0f} MiB free at {disk.get('path')}",
                           "free space on the board or point `workdir:` at a bigger disk"))
    else:
        out.append(Finding("disk", "ok", f"{free / 2**30:.1f} GiB free at {disk.get('path')}"))
    cpu = facts.get("cpu") or {}
    gov = cpu.get("governor")
    if gov is None:
        out.append(Finding("cpu governor", "warning", cpu.get("governor_reason", "unknown"),
                           "latency figures may vary with frequency scaling; it is recorded, not changed"))
    elif gov not in ("performance",):
        out.append(Finding("cpu governor", "warning", f"{gov}: clocks scale with load",
                           "for stable numbers set the governor to performance on the board (edgeeval records it, never changes it)"))
    else:
        out.append(Finding("cpu governor", "ok", gov))
    return out


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status == "missing"]
