"""Turn an agent probe into findings: what the board has, what is missing, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

MIN_PYTHON = (3, 8)
MIN_FREE_BYTES = 200 * 1024 * 1024   # below it devices check warns; deploy checks the real need


@dataclass
class Finding:
    item: str
    status: str          # ok | missing | warning
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return {"item": self.item, "status": self.status, "detail": self.detail, "fix": self.fix}


PIP_NAMES = {"onnxruntime_genai": "onnxruntime-genai", "llama_cpp": "llama-cpp-python"}


def _pip(python: str, pkg: str) -> str:
    return f"on the board: {python} -m pip install {PIP_NAMES.get(pkg, pkg)}"


def analyse(facts: dict, *, python: str, runtimes_needed: tuple[str, ...] = ("onnxruntime",),
            providers_needed: tuple[str, ...] = (), tflite: bool = False) -> list[Finding]:
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
    if tflite:
        out += tflite_findings(facts, python)
    else:  # not asked for, but a board with tflite-runtime still hears about its known traps
        out += [f for f in tflite_findings(facts, python) if f.status == "warning"]
    for name, info in runtimes.items():
        if name not in runtimes_needed and (info or {}).get("version"):
            out.append(Finding(name, "ok", str(info["version"])))
    disk = facts.get("disk") or {}
    free = disk.get("free_bytes")
    if free is None:
        out.append(Finding("disk", "warning", disk.get("reason", "free space unknown")))
    elif free < MIN_FREE_BYTES:   # deploy checks what its own artifacts need (boardcache.py); here: a warning
        out.append(Finding("disk", "warning", f"{free / 2**20:.0f} MiB free at {disk.get('path')}: enough only for "
                           "small models (deploy checks each push against its artifacts' size)",
                           "free space on the board or point `workdir:` at a bigger disk"))
    else:
        out.append(Finding("disk", "ok", f"{free / 2**30:.1f} GiB free at {disk.get('path')}"))
    bc = facts.get("board_cache")
    if isinstance(bc, dict):
        detail = (f"{bc.get('cache_files', 0)} cached artifacts, {bc.get('cache_bytes', 0) / 1e6:.1f} MB; "
                  f"{bc.get('partial_uploads', 0)} partial uploads ({bc.get('partial_bytes', 0) / 1e6:.1f} MB), "
                  f"{bc.get('run_folders', 0)} run folders")
        out.append(Finding("board cache", "ok", detail,
                           "`edgeeval devices clean NAME` empties it (the next deploy pushes again)"))
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
    out += sensor_findings(facts)
    return out


TFLITE_INTERPRETERS = ("ai_edge_litert", "tflite_runtime", "tensorflow")


def tflite_findings(facts: dict, python: str) -> list[Finding]:
    """A recipe with TFLite variants needs one interpreter; tflite-runtime's known traps are warned about."""
    runtimes = facts.get("runtimes") or {}
    have = [n for n in TFLITE_INTERPRETERS
            if (runtimes.get(n) or {}).get("version") or (runtimes.get(n) or {}).get("installed")]
    if not have:
        return [Finding("tflite interpreter", "missing", "none of ai_edge_litert, tflite_runtime, tensorflow imports",
                        _pip(python, "ai-edge-litert"))]
    out = [Finding("tflite interpreter", "ok", f"{have[0]} (used first of {', '.join(have)})")]
    if have[0] == "tflite_runtime":
        npv = str((facts.get("numpy") or {}).get("version") or "")
        if npv.split(".")[0].isdigit() and int(npv.split(".")[0]) >= 2:
            out.append(Finding("tflite_runtime + numpy", "warning",
                               f"tflite-runtime 2.14 needs numpy<2; this board has numpy {npv}",
                               f"{_pip(python, chr(39) + 'numpy<2' + chr(39))} or install ai-edge-litert"))
        out.append(Finding("tflite_runtime + dynamic int8", "warning",
                           "tflite-runtime 2.14 rejects dynamic-range int8 models (FULLY_CONNECTED v12) and has given "
                           "constant outputs on some; deploy full-integer int8 or use ai-edge-litert",
                           _pip(python, "ai-edge-litert")))
    return out


def sensor_findings(facts: dict) -> list[Finding]:
    """One finding per power source the probe found (never blocking: power is optional)."""
    if "sensors" not in facts:
        return []
    sensors = facts.get("sensors")
    if sensors is None:
        return [Finding("power sensors", "warning", facts.get("sensors_reason", "probe failed"))]
    if not sensors:
        return [Finding("power sensors", "warning", "none found on the board",
                        "measure with a meter on the controller (power: {sensor: none, meter: ...}) "
                        "or leave power off")]
    out = []
    for s in sensors:
        what = s["sensor"] + (f" {s['chip']}" if s.get("chip") else "")
        rails = ", ".join(s["rails"]) if s.get("rails") else (s.get("reason") or "")
        if s.get("readable") is False:
            out.append(Finding(f"power {what}", "warning", f"rails {rails}; not readable", s.get("reason", "")))
        else:
            out.append(Finding(f"power {what}", "ok", f"rails: {rails}" if s.get("rails") else rails))
    return out


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status == "missing"]
