"""`edgeeval init MODEL.onnx [--data eval.npz]`: a commented recipe drafted from the model itself.

The draft is written so that it deploys as it stands: the inputs, the output that is scored and
the labels key are read off the model and the data (the model is run on a few samples to see
what its outputs really are: a ZipMap, a label, class scores). What cannot be known is left for
the user, said in a comment, never guessed: with two candidate score outputs the `scores:` line
stays commented and `deploy` lists them. Without `--data` it writes synthetic inputs (a fixed
seed, the model's shapes and dtypes) beside the recipe: latency and board-vs-server fidelity
only, no accuracy, and the recipe says so. The result is validated by the recipe loader before
the command returns, so init never leaves a recipe that the other commands reject.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import UserInputError

LABEL_KEYS = ("labels", "label", "y", "target", "targets")
SYNTHETIC_SAMPLES = 64
PEEK_SAMPLES = 16


def _rel(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


def _io_text(d: dict) -> str:
    dims = ", ".join("?" if x is None else str(x) for x in d["shape"])
    return f"{d['name']} {d.get('type')}" + (f" [{dims}]" if d["shape"] else "")


def _name(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "model"


def _shape(decl: dict, dims: dict[str, int], samples: int) -> list[int]:
    """A concrete shape for a declared one: axis 0 = samples, other symbolic axes from --dim (else 1)."""
    out = []
    for i, d in enumerate(decl["shape"]):
        if i == 0:
            out.append(samples)
        elif isinstance(d, int) and d > 0:
            out.append(d)
        else:
            out.append(int(dims.get(str(d), 1)))
    return out


def _synthetic(inputs: list[dict], dims: dict[str, int], path: Path) -> list[str]:
    """Seeded random inputs in the model's dtypes; returns comment lines describing them."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays, notes = {}, []
    for d in inputs:
        if d["dtype"] is None:
            raise UserInputError(f"input {d['name']!r} is {d.get('type')}, not a tensor: give real data with --data")
        shape = _shape(d, dims, SYNTHETIC_SAMPLES)
        dt = np.dtype(d["dtype"])
        if dt.kind == "f":
            a = rng.standard_normal(shape).astype(dt)
        elif dt.kind in "iu":
            a = np.ones(shape, dtype=dt)        # e.g. token ids or indices: 1 is valid for any vocabulary
        elif dt.kind == "b":
            a = np.ones(shape, dtype=dt)
        else:
            raise UserInputError(f"input {d['name']!r} is {d['dtype']}: give real data with --data")
        arrays[d["name"]] = a
        unknown = [str(x) for x in d["shape"][1:] if not (isinstance(x, int) and x > 0)]
        notes.append(f"{d['name']}: {dt} {shape}" + (f" (symbolic {', '.join(unknown)} set to "
                                                      f"{[dims.get(u, 1) for u in unknown]}; --dim NAME=N)"
                                                      if unknown else ""))
    np.savez(path, **arrays)
    return notes


def _read_data(data: Path, inputs: list[dict]) -> tuple[dict, str | None, list[str]]:
    """(feeds for the first samples, labels key or None, problems) from the user's .npz."""
    import numpy as np

    from .sources import read_npz_arrays

    z = read_npz_arrays(data, f"--data {data}")
    keys = list(z)
    names = [d["name"] for d in inputs]
    missing = [n for n in names if n not in keys]
    problems = []
    if missing:
        problems.append(f"{data}: has arrays {keys} but the model's inputs are {names} (missing {missing}); "
                        "save the inputs under the model's input names")
    labels = next((k for k in LABEL_KEYS if k in keys and k not in names), None)
    feeds = {}
    for d in inputs:
        if d["name"] in keys:
            a = z[d["name"]][:PEEK_SAMPLES]
            if d["dtype"] and str(a.dtype) != d["dtype"]:
                problems.append(f"{data}: input {d['name']!r} is {a.dtype} but the model expects {d['dtype']}; "
                                f"save it as {d['dtype']} (e.g. np.savez(..., {d['name']}=x.astype(np.{d['dtype']})))")
            feeds[d["name"]] = a
    if labels is not None and np.asarray(z[labels]).ndim != 1:
        labels = None
    return feeds, labels, problems


def _scoring(model: Path, feeds: dict, outputs: list[dict], has_labels: bool) -> tuple[dict | None, str]:
    """What deploy will score, found the way deploy finds it; (choice, comment) or (None, why)."""
    import numpy as np
    import onnxruntime as ort

    from ..agent.edgeeval_agent.data import dense_output
    from ..evaluate.scoring import choose, listing

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    try:
        outs = sess.run(names, feeds)
    except Exception as exc:
        dynamic = all(not isinstance(i.shape[0], int) for i in sess.get_inputs() if i.shape)
        if dynamic:
            raise UserInputError(f"{model}: onnxruntime cannot run it on the data: {type(exc).__name__}: "
                                 f"{str(exc)[:300]}") from None
        outs = sess.run(names, {k: v[:1] for k, v in feeds.items()})
    dense = {n: np.asarray(dense_output(o, n)) for n, o in zip(names, outs)}
    try:
        return choose(dense, outputs, has_labels=has_labels), ""
    except UserInputError as exc:
        return None, f"{' '.join(exc.problems)} | outputs: {listing(dense, outputs)}"


def draft(model: Path, out: Path, data: Path | None = None, calibration: Path | None = None,
          dims: dict[str, int] | None = None) -> tuple[str, list[str]]:
    """The recipe text for `model` (written later to `out`); also the extra files it writes."""
    from .sources import load_onnx_or_explain, model_io

    dims = dims or {}
    if not model.exists():
        raise UserInputError(f"{model}: no such file; give the path of an .onnx model")
    load_onnx_or_explain(model, str(model), load_external_data=False)
    io = model_io(model)
    folder = out.parent
    written: list[str] = []
    header = [f"# Drafted by `edgeeval init {model.name}`: read it, then `edgeeval deploy {out.name}`.",
              "# Relative paths are relative to this file's folder.",
              "# Model inputs:  " + "; ".join(_io_text(d) for d in io["inputs"]),
              "# Model outputs: " + "; ".join(_io_text(d) for d in io["outputs"])]
    lines = [f"name: {_name(model.stem)}", f"description: {model.name}, drafted by edgeeval init", "",
             "source:", "  type: onnx", f"  path: {_rel(model, folder)}", "", "data:", "  type: npz"]
    has_labels = False
    if data is None:
        syn = folder / f"{_name(model.stem)}-synthetic.npz"
        notes = _synthetic(io["inputs"], dims, syn)
        written.append(str(syn))
        lines += [f"  path: {_rel(syn, folder)}  # SYNTHETIC inputs (seed 0), written by init: "
                  "latency and board-vs-server fidelity only",
                  *[f"  #   {n}" for n in notes],
                  "  labels: null  # no labels, no accuracy: replace with real data (--data) for it"]
        import numpy as np
        with np.load(syn) as z:
            feeds = {k: z[k][:PEEK_SAMPLES] for k in z.files}
    else:
        feeds, labels, problems = _read_data(data, io["inputs"])
        if problems:
            raise UserInputError(problems)
        has_labels = labels is not None
        lines += [f"  path: {_rel(data, folder)}",
                  f"  labels: {labels}" if labels else
                  "  labels: null  # no labels key found (labels, y, target): fidelity only"]
    if calibration is not None:
        from .sources import read_npz_arrays
        read_npz_arrays(calibration, f"--calibration {calibration}")
        lines.append(f"  calibration: {_rel(calibration, folder)}  # int8-static scales come from these samples")
    choice, why = _scoring(model, feeds, io["outputs"], has_labels)
    if choice is None:
        lines += ["  # scores: NAME  # init could not tell which output to score:",
                  *[f"  #   {part.strip()}" for part in why.split(" | ")],
                  "  #   set data.scores (class scores [N, C]) or data.predicted_label (a label [N])"]
    elif choice.get("label") and choice.get("scores"):
        lines += [f"  predicted_label: {choice['label']}  # the model's predicted class [N]",
                  f"  scores: {choice['scores']}  # its class scores: fidelity board vs server"]
    elif choice.get("label"):
        lines.append(f"  predicted_label: {choice['label']}  # the model's predicted class [N]")
    elif choice.get("scores") and has_labels:
        lines.append(f"  scores: {choice['scores']}  # class scores [N, C]: top-1 = argmax")
    else:
        lines.append(f"  # output scored for fidelity: {choice.get('scores')} (the first; nothing to score against)")
    lines += ["", "variants:                         # names are labels; add or drop freely",
              "  - {name: fp32, precision: fp32}",
              "  - {name: fp16, precision: fp16}            # float16 weights and compute, float32 I/O",
              "  - {name: int8-dynamic, precision: int8-dynamic, per_channel: true}"]
    if calibration is not None:
        lines.append("  - {name: int8-static, precision: int8-static, quant_format: qdq, per_channel: true}")
    else:
        lines += ["  # int8-static needs calibration samples other than the eval set: rerun init with",
                  "  # --calibration calib.npz, or add data.calibration and this variant:",
                  "  # - {name: int8-static, precision: int8-static, quant_format: qdq, per_channel: true}"]
    lines += ["", "run:                              # timed runs continue until both minimums are met",
              "  warmup: 10", "  min_runs: 200", "  min_seconds: 5.0", "  max_seconds: 600",
              "  # scenario: {name: single-stream}   # single-stream | multi-stream | offline | server", "",
              "gates:                            # each optional; a variant may override them in its own gates:"]
    if has_labels:
        lines.append("  accuracy_drop_pt: 1.0          # max top-1 drop vs the server fp32 baseline, points")
    lines += ["  min_cosine: 0.99               # board output vs server fp32 output, per sample (mean)",
              "  # p90_ms: 20                   # a latency budget, once you know what the target needs"]
    return "\n".join(header + [""] + [_align(x) for x in lines]) + "\n", written


def _align(line: str, column: int = 36) -> str:
    """Inline comments start at one column (a line longer than that keeps two spaces)."""
    code, sep, comment = line.partition("  # ")
    if not sep or not code.strip() or code.lstrip().startswith("#"):
        return line
    return f"{code.rstrip():<{column - 2}}  # {comment.strip()}"


def write(model: Path, out: Path, *, data: Path | None = None, calibration: Path | None = None,
          dims: dict[str, int] | None = None, force: bool = False) -> list[str]:
    """Write the draft to `out` (refusing to overwrite without force), validate it, return the files written."""
    from .schema import load_recipe

    if out.exists() and not force:
        raise UserInputError(f"{out}: already exists; pass --force to overwrite it or -o another path")
    out.parent.mkdir(parents=True, exist_ok=True)
    text, extra = draft(model, out, data, calibration, dims)
    out.write_text(text)
    load_recipe(out)     # the draft must be a recipe the other commands accept
    return [str(out), *extra]
