"""JUnit XML for CI (the format Jenkins' junit step and GitLab's `artifacts:reports:junit` read).

One testcase per (model, variant, board). A gate failure or a regression is a <failure> with the
figures and intervals in its message; a device fault an <error>; a quarantined board, a noisy window
or a comparison that could not be made is <skipped> with the reason. Written with ElementTree (every
attribute and text escaped by it), atomically.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("passed", "failure", "error", "skipped")


@dataclass
class Case:
    classname: str              # edgeeval.<recipe>.<board>
    name: str                   # the variant
    outcome: str = "passed"
    message: str = ""           # one line: the verdict and its figures
    details: str = ""           # the body: every figure
    time_s: float = 0.0
    properties: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {OUTCOMES}")


def _clean(s) -> str:
    """XML 1.0 cannot carry most control characters, even escaped: drop them."""
    return "".join(ch for ch in str(s) if ch in "\t\n\r" or ord(ch) >= 0x20)


def write(path: Path, suite: str, cases: list[Case], *, timestamp: float | None = None) -> Path:
    from ..recipes.cache import write_bytes_atomic
    from ..scrub import scrub_text

    path = Path(path)
    counts = {o: sum(1 for c in cases if c.outcome == o) for o in OUTCOMES}
    total_t = sum(c.time_s for c in cases)
    root = ET.Element("testsuites", name="edgeeval", tests=str(len(cases)), failures=str(counts["failure"]),
                      errors=str(counts["error"]), skipped=str(counts["skipped"]), time=f"{total_t:.3f}")
    ts = ET.SubElement(root, "testsuite", name=_clean(suite), tests=str(len(cases)),
                       failures=str(counts["failure"]), errors=str(counts["error"]), skipped=str(counts["skipped"]),
                       time=f"{total_t:.3f}",
                       timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp or time.time())),
                       hostname=_clean(socket.gethostname()))
    for c in cases:
        tc = ET.SubElement(ts, "testcase", name=_clean(c.name), classname=_clean(c.classname), time=f"{c.time_s:.3f}")
        props = {k: v for k, v in c.properties.items() if v is not None}
        if props:
            pe = ET.SubElement(tc, "properties")
            for k, v in props.items():
                ET.SubElement(pe, "property", name=_clean(k), value=_clean(scrub_text(str(v))))
        msg, body = _clean(scrub_text(c.message)), _clean(scrub_text(c.details))
        if c.outcome != "passed":
            el = ET.SubElement(tc, c.outcome, message=msg)
            if c.outcome != "skipped":
                el.set("type", {"failure": "edgeeval.regression" if "regress" in msg else "edgeeval.gate",
                                "error": "edgeeval.device_fault"}[c.outcome])
            el.text = body or msg
        elif body:
            ET.SubElement(tc, "system-out").text = body
    ET.indent(root)
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"
    write_bytes_atomic(path, data)
    return path
