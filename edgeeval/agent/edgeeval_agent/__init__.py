"""edgeeval board agent (protocol version 1): probe a board, or run one latency/accuracy job.

Bundled into one zipapp (`edgeeval/agent/bundle.py`) and pushed to boards as
cache/<sha256>.pyz: Python >= 3.8, the standard library, numpy and the runtime under test —
never edgeeval. Relative imports only; numpy and the runtimes are imported by the `run` path,
so `probe` works without any of them. See docs/architecture.md ("Agent protocol").
"""
