"""The one reference-output cache: outputs of a model over an eval set computed on the controller,
stored in paths.baselines_dir() as <key>.npz (arrays out0..outN) + <key>.json (output names and
what produced them), keyed by the model's and the eval set's sha256 (plus whatever else changes
the numbers, e.g. the execution providers or the runtime kind)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import paths
from ..recipes.cache import read_json, write_json_atomic, write_npz

Outputs = dict[str, np.ndarray]


@dataclass
class Cached:
    outputs: Outputs                 # output name -> array with a leading sample axis
    names: list[str]                 # in the model's order
    meta: dict                       # what computed them (runtime, providers, shas, seconds)
    path: Path                       # the cached .npz
    cached: bool                     # read from the cache (True) or computed now (False)


def cached_outputs(stem: str, compute: Callable[[], tuple[Outputs, list[str], dict]]) -> Cached:
    """The outputs stored under `stem`, or compute() -> (outputs, names, meta) once and store them."""
    folder = paths.baselines_dir()
    npz, meta_path = folder / f"{stem}.npz", folder / f"{stem}.json"
    meta = read_json(meta_path)
    if meta and npz.exists():
        with np.load(npz) as z:
            outputs = {name: z[f"out{i}"] for i, name in enumerate(meta["output_names"])}
        return Cached(outputs, list(meta["output_names"]), meta, npz, True)
    t0 = time.perf_counter()
    outputs, names, meta = compute()
    tmp = npz.with_name(npz.name + ".tmp")
    write_npz(tmp, {f"out{i}": outputs[n] for i, n in enumerate(names)})
    tmp.replace(npz)
    meta = {**meta, "output_names": list(names), "seconds": round(time.perf_counter() - t0, 3)}
    write_json_atomic(meta_path, meta)
    return Cached(outputs, list(names), meta, npz, False)
