"""What a measurement was made on and with: the hardware key that must match for a comparison to mean
anything, and the software key whose changes are shown beside it (Conbench's and Bencher's model)."""

from __future__ import annotations

import hashlib
import json


def hardware_key(run: dict) -> dict:
    """The board and the facts of its hardware that the agent reported."""
    f = run.get("device_facts") or {}
    cpu = f.get("cpu") or {}
    mem = (f.get("memory") or {}).get("total_kb")
    return {"board": run.get("device_name"), "arch": f.get("arch"), "cpu": cpu.get("model"),
            "cores": cpu.get("logical_cores"),
            # the kernel keeps a few MB back differently between boots; 64 MiB steps are the same RAM
            "memory_gib": None if not isinstance(mem, (int, float)) else round(mem / 1048576 * 16) / 16}


def software_key(run: dict, variant: dict) -> dict:
    """What ran: runtime and version, agent, model file, eval set, the board's OS and Python stack."""
    f = run.get("device_facts") or {}
    rt = variant.get("runtime") or {}
    extra = variant.get("extra") or {}
    used = rt.get("providers_used") or rt.get("delegates")
    return {"runtime": " ".join(str(x) for x in (rt.get("name"), rt.get("version")) if x) or None,
            "providers": ",".join(used) if isinstance(used, list) else used,
            "agent_sha256": extra.get("agent_sha256") or run.get("agent_sha256"),
            "model_sha256": variant.get("model_sha256"),
            "dataset_sha256": extra.get("dataset_sha256") or run.get("dataset_sha256"),
            "kernel": (f.get("kernel") or {}).get("release"),
            "python": (f.get("python") or {}).get("version"),
            "numpy": (f.get("numpy") or {}).get("version"),
            "edgeeval": run.get("git_sha") or run.get("edgeeval_version")}


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


def differences(a: dict, b: dict) -> list[dict]:
    """[{"field", "a", "b"}] for each field whose value differs."""
    return [{"field": k, "a": a.get(k), "b": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def short(v) -> str:
    """sha256 digests to 12 characters, git commits (with a -dirty mark) to 10."""
    s = "—" if v is None else str(v)
    head, dirty = (s[:-6], "-dirty") if s.endswith("-dirty") else (s, "")
    if len(head) in (40, 64) and all(c in "0123456789abcdef" for c in head):
        return head[:12 if len(head) == 64 else 10] + dirty
    return s


def describe(diffs: list[dict]) -> str:
    return "; ".join(f"{d['field']} {short(d['a'])} → {short(d['b'])}" for d in diffs)
