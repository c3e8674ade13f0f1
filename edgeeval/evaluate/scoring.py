"""Which model output is scored, and how: class scores, predicted labels, or neither.

Models people bring put their answer in different places: a CNN's only output is class
scores [N, C]; a scikit-learn classifier exported by skl2onnx gives a predicted label int64 [N]
first and the probabilities second (as a ZipMap sequence of maps, which the agent and the
controller turn into a dense [N, C] array in class order); a multi-output graph may hold the
scores in output 1. The choice is made once per deploy, from the recipe (`data.scores`,
`data.predicted_label`) or, when the model leaves no doubt, from the outputs' kinds:

    scores   a floating output that is [N, C] once singleton axes are dropped (C >= 2):
             top-1 = argmax, fidelity (cosine, max abs error, ...) and top-1 agreement on it
    label    an integer, boolean or string output of shape [N] (or [N, 1]): the predicted class,
             compared with the labels directly; agreement board vs reference on it
    other    anything else (embeddings [N, D, ...], regression values [N], detection boxes)

When the eval set has labels (or a gate reads the scored output's fidelity) and the model has
several candidates and the recipe names none, the deploy stops with exit 2, listing every
output with its type and shape and the field to set: a benchmark never guesses which number
it reports. The resulting `scoring` dict is stored with the variant so a recompute scores the
same output.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserInputError
from ..suggest import did_you_mean

# gates that read the scored output's fidelity: they need a scored output as much as labels do
FIDELITY_GATES = ("min_top1_agreement", "min_cosine", "max_abs_error", "min_psnr_db")


def output_kind(array: np.ndarray) -> str:
    """'scores', 'label' or 'other' for one output (a leading sample axis, as stored)."""
    a = np.asarray(array)
    if a.ndim == 0 or a.shape[0] == 0:
        return "other"
    rest = [d for d in a.shape[1:] if d != 1]
    if a.dtype.kind == "f":
        return "scores" if len(rest) == 1 and rest[0] >= 2 else "other"
    if a.dtype.kind in "iubUS" and not rest:
        return "label"
    return "other"


def _describe(name: str, array, declared: dict | None) -> str:
    a = np.asarray(array) if array is not None else None
    typ = (declared or {}).get("type") or ((declared or {}).get("dtype") and f"tensor({declared['dtype']})") or "?"
    shape = (declared or {}).get("shape")
    text = f"{name} ({typ}"
    if shape:
        text += f", declared {list(shape)}"
    if a is not None:
        text += f", gives {a.dtype} {list(a.shape)}, a {output_kind(a)} output"
    return text + ")"


def listing(outputs: dict[str, np.ndarray], declared: list[dict] | None) -> str:
    info = {d["name"]: d for d in (declared or [])}
    return "; ".join(_describe(n, outputs.get(n), info.get(n)) for n in (list(outputs) or list(info)))


def legacy(primary: str | None) -> dict:
    """The scoring of results stored before the choice existed: the first output as scores."""
    return {"scores": primary, "label": None, "chosen_by": "first output"}


def choose(outputs: dict[str, np.ndarray], declared: list[dict] | None, *, scores: str | None = None,
           label: str | None = None, has_labels: bool, fidelity_gates: bool = False,
           where: dict[str, str] | None = None) -> dict:
    """The outputs to score: {"scores", "label", "chosen_by", "kinds"}; UserInputError when unclear.

    `outputs` are the reference outputs (name -> array, in the model's order); `where` gives the
    "FILE:LINE: field data.scores" prefixes for messages (keys "scores", "label", "data").
    """
    where = where or {}
    names = list(outputs)
    kinds = {n: output_kind(a) for n, a in outputs.items()}
    problems = []

    def unknown(field: str, value: str) -> str:
        hint = did_you_mean(value, names)
        return (f"{where.get(field, 'field data.' + field)}: the model has no output {value!r}{hint} "
                f"Its outputs: {listing(outputs, declared)}")

    named = (("scores", scores, "scores", "class scores [N, C]", "name a float [N, C] output, or use "
              "data.predicted_label for a label output"),
             ("predicted_label", label, "label", "a predicted label [N]", "name an integer or string [N] "
              "output, or use data.scores for class scores"))
    for field, value, kind, what, fix in named:
        if value is None:
            continue
        if value not in outputs:
            problems.append(unknown(field, value))
        elif kinds[value] != kind:
            problems.append(f"{where.get(field, 'field data.' + field)}: output {value!r} is not {what} "
                            f"({_describe(value, outputs[value], None)}); {fix}")
    if problems:
        raise UserInputError(problems)

    need = has_labels or fidelity_gates
    chosen_by = "recipe" if (scores or label) else "auto"
    cands = {k: [n for n in names if kinds[n] == k] for k in ("scores", "label")}
    if label is None and scores is None and len(cands["label"]) == 1:
        label = cands["label"][0]
    if scores is None:
        if len(cands["scores"]) == 1:
            scores = cands["scores"][0]
        elif len(cands["scores"]) > 1 and need:
            problems.append(
                f"{where.get('data', 'field data')}: the model has {len(cands['scores'])} outputs that could be "
                f"the class scores ({', '.join(cands['scores'])}); set data.scores to the one to score. "
                f"Its outputs: {listing(outputs, declared)}")
    if label is None and scores is None and len(cands["label"]) > 1 and need:
        problems.append(
            f"{where.get('data', 'field data')}: the model has {len(cands['label'])} outputs that could be the "
            f"predicted label ({', '.join(cands['label'])}); set data.predicted_label (or data.scores). "
            f"Its outputs: {listing(outputs, declared)}")
    if not problems and has_labels and scores is None and label is None:
        problems.append(
            f"{where.get('data', 'field data')}: the eval set has labels but no output of the model can be scored "
            f"against them (no float [N, C] class scores, no integer [N] predicted label). Its outputs: "
            f"{listing(outputs, declared)}; set data.scores / data.predicted_label, or drop the labels "
            "(data.labels: null) to measure latency and fidelity only")
    if problems:
        raise UserInputError(problems)
    if scores is None and label is None:   # nothing to score (no labels): fidelity on the first output
        return {"scores": names[0] if names else None, "label": None, "chosen_by": "first output (nothing to score)",
                "kinds": kinds}
    return {"scores": scores, "label": label, "chosen_by": chosen_by, "kinds": kinds}


def primary(scoring: dict) -> str | None:
    """The output whose fidelity is the headline: the scores when there are any, else the label."""
    return scoring.get("scores") or scoring.get("label")


def predictions(outputs: dict[str, np.ndarray] | None, scoring: dict) -> np.ndarray:
    """Predicted class per sample from `outputs` by `scoring`; ValueError with the reason when impossible."""
    from .accuracy import top1_predictions

    label, scores = scoring.get("label"), scoring.get("scores")
    if outputs is None:
        raise ValueError("no outputs")
    if label is not None:
        if label not in outputs:
            raise ValueError(f"no output {label!r}")
        a = np.asarray(outputs[label])
        return a.reshape(a.shape[0]) if a.ndim > 1 and a.size == a.shape[0] else a
    if scores is None or scores not in outputs:
        raise ValueError(f"no output {scores!r}")
    return top1_predictions(outputs[scores])
