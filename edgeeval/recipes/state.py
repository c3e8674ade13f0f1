"""The working state of a build that missed the cache (heavy modules are imported only in here):
the splits, the calibration set, the pre-processed model, and the helpers the build steps
(recipes/steps.py) use to store what they make."""


import tempfile
from pathlib import Path

from .. import paths
from ..errors import BuildError, UserInputError
from . import cache
from .schema import Recipe
from .sources import LABELS, load_splits

_TWO_GB = 2**31 - 1
_DEFAULT_CALIBRATION = 200


def _art(sha: str, suffix: str, size: int) -> dict:
    return {"sha256": sha, "suffix": suffix, "size": size}


class BuildState:
    """The work of a build that missed the cache; heavy modules are imported only in here."""

    def __init__(self, recipe: Recipe, store: cache.KeyStore):
        self.recipe, self.store = recipe, store
        self.splits: dict | None = None
        self.tmp: Path | None = None
        self._pre: tuple[Path, dict] | None = None
        self.module = None      # the nn.Module a python source returned, when it returns one
        self.settings: dict[str, dict] = {}

    def splits_(self) -> dict:
        if self.splits is None:
            self.splits = load_splits(self.recipe, need_train=self.recipe.source.type == "python")
        return self.splits

    def build_data(self, key: str) -> dict:
        splits = self.splits_()
        test = splits["test"]
        if self.recipe.data.type in ("prompts", "tokens"):
            return self._build_token_data(key, test)
        if "calibration" in splits:
            calib, origin = splits["calibration"], "calibration split"
        else:
            n = min(_DEFAULT_CALIBRATION, len(next(iter(test.values()))))
            calib, origin = {k: v[:n] for k, v in test.items()}, f"first {n} samples of the eval set"
        inputs = [k for k in test if k != LABELS]
        arts = []
        with tempfile.TemporaryDirectory(dir=paths.artifacts_dir(), prefix=".build-") as tmp:
            for name, arrays in (("eval.npz", test), ("calibration.npz", calib)):
                p = Path(tmp) / name
                cache.write_npz(p, arrays)
                sha, _, size = cache.store_file(p, ".npz", move=True)
                arts.append(_art(sha, ".npz", size))
        meta = {"inputs": inputs, "labels": LABELS if LABELS in test else None,
                "samples": int(len(test[inputs[0]])), "calibration_samples": int(len(calib[inputs[0]])),
                "calibration_from": origin,
                "dtypes": {k: str(test[k].dtype) for k in inputs},
                "shapes": {k: list(test[k].shape) for k in inputs}}
        return self.store.put(key, arts, meta)

    def _build_token_data(self, key: str, test: dict) -> dict:
        """A generative eval set: one .npz of token sequences (recipes/generative.py); no calibration split
        (int8-dynamic and int4 need none), so the calibration artifact is the same file."""
        from .generative import data_meta

        with tempfile.TemporaryDirectory(dir=paths.artifacts_dir(), prefix=".build-") as tmp:
            p = Path(tmp) / "eval.npz"
            cache.write_npz(p, test)
            sha, _, size = cache.store_file(p, ".npz", move=True)
        art = _art(sha, ".npz", size)
        meta = {"inputs": sorted(test), "labels": None, "samples": data_meta(test)["prompts"],
                "calibration_samples": 0, "calibration_from": "none (generative: no calibrated variant)",
                "generative": data_meta(test), "dtypes": {k: str(v.dtype) for k, v in test.items()},
                "shapes": {k: list(v.shape) for k, v in test.items()}}
        return self.store.put(key, [art, art], meta)

    def build_fp32(self, key: str) -> dict:
        """The fp32 .onnx, exported as the source type's registered exporter does (recipes/steps.py)."""
        from .sources import model_io

        r = self.recipe
        with tempfile.TemporaryDirectory(dir=paths.artifacts_dir(), prefix=".build-") as tmp:
            from .steps import EXPORTERS

            src, where = EXPORTERS[r.source.type](self, Path(tmp))
            out = Path(tmp) / "fp32.onnx"
            _self_contained(src, out, where)
            io = model_io(out)
            sha, _, size = cache.store_file(out, ".onnx", move=True)
        return self.store.put(key, [_art(sha, ".onnx", size)], {"io": io, "tools": {}})

    def build_variant(self, key: str, v, model_entry: dict, data_entry: dict) -> dict:
        """The variant from the fp32 model by its registered step (recipes/steps.py)."""
        from .steps import step_for

        return step_for(self.recipe, v)(self, key, v, model_entry, data_entry)

    def put_onnx(self, key: str, out: Path, what: str, tools: dict) -> dict:
        """A built .onnx checked, moved into the artifact cache and recorded under `key`."""
        from .sources import model_io

        _check_onnx(out, what)
        io = model_io(out)
        sha, _, size = cache.store_file(out, ".onnx", move=True)
        return self.store.put(key, [_art(sha, ".onnx", size)], {"io": io, "tools": tools})

    def put_file(self, key: str, src: Path, suffix: str, tools: dict) -> dict:
        """A file used as it is (copied into the artifact cache, no ONNX inside) recorded under `key`."""
        sha, _, size = cache.store_file(src, suffix)
        return self.store.put(key, [_art(sha, suffix, size)], {"io": {"opset": None, "inputs": [], "outputs": []},
                                                               "tools": tools})

    def pre_processed(self, fp32_path: Path) -> tuple[Path, dict]:
        if self._pre is None:
            from .quantize import pre_process
            dst = self.tmp / "pre-processed.onnx"
            self._pre = (dst, pre_process(fp32_path, dst))
        return self._pre

    def calibration(self, data_entry: dict) -> dict:
        import numpy as np

        cal = data_entry["artifacts"][1]
        with np.load(cache.artifact_path(cal["sha256"], cal["suffix"])) as z:
            return {k: z[k] for k in z.files if k != LABELS}


def _self_contained(src: Path, dst: Path, where: str) -> None:
    """Copy an .onnx into dst with any external data inlined, after checking it is a valid model."""
    import onnx

    from .sources import onnx_files

    total = sum(f.stat().st_size for f in onnx_files(src, cache.FileHashes()) if f.exists())
    if total > _TWO_GB:
        raise BuildError(f"{where}: the model is {total / 2**30:.1f} GB; edgeeval builds self-contained .onnx "
                         "files and protobuf caps those at 2 GB (models this large are not supported yet)")
    from .sources import load_onnx_or_explain

    model = load_onnx_or_explain(src, where)   # loads external data from src's folder
    try:
        onnx.checker.check_model(model)
    except Exception as exc:   # the user's model (or the exporter's output for them): exit 2
        raise UserInputError(f"{where}: {src.name} is not a valid ONNX model ({type(exc).__name__}: "
                             f"{str(exc)[:300]}); re-export it or fix the graph") from None
    onnx.save_model(model, str(dst))


def _check_onnx(path: Path, what: str) -> None:
    import onnx
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:
        raise BuildError(f"{what}: produced an invalid model: {type(exc).__name__}: {exc}") from exc
