"""Where edgeeval keeps things on the controller.

EDGEEVAL_HOME (default ~/.edgeeval) holds:
  artifacts/    content-addressed build outputs, <sha256><suffix>
  builds/       one manifest per recipe build
  baselines/    server reference outputs keyed by (model sha256, dataset sha256)
  agent/        the bundled board agent, agent-<sha256>.pyz
  boards/local/ the work directory of the embedded `local` device
  results.db    the default SQLite results store (EDGEEVAL_STORE overrides, any SQLAlchemy URL)
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    p = Path(os.environ.get("EDGEEVAL_HOME") or Path.home() / ".edgeeval").expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p


def artifacts_dir() -> Path:
    p = home() / "artifacts"
    p.mkdir(parents=True, exist_ok=True)
    return p


def tokenizers_dir() -> Path:
    """Tokenizers read from GGUF files, saved as Hugging Face folders (keyed by the GGUF's sha256)."""
    p = home() / "tokenizers"
    p.mkdir(parents=True, exist_ok=True)
    return p


def builds_dir() -> Path:
    p = home() / "builds"
    p.mkdir(parents=True, exist_ok=True)
    return p


def agent_dir() -> Path:
    """The bundled board agent, agent-<sha256>.pyz (edgeeval/agent/bundle.py)."""
    p = home() / "agent"
    p.mkdir(parents=True, exist_ok=True)
    return p


def baselines_dir() -> Path:
    p = home() / "baselines"
    p.mkdir(parents=True, exist_ok=True)
    return p


def local_board_dir() -> Path:
    p = home() / "boards" / "local"
    p.mkdir(parents=True, exist_ok=True)
    return p


def store_url() -> str:
    url = os.environ.get("EDGEEVAL_STORE")
    if url:
        return url if "://" in url else f"sqlite:///{Path(url).expanduser().resolve()}"
    return f"sqlite:///{home() / 'results.db'}"
