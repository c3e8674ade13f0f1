"""Controller inference of an .onnx over an .npz eval set with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BuildError, UserInputError

CHUNK = 64        # samples per call when every input's batch axis is dynamic


def run_model(model_path: Path, data_path: Path, input_names: list[str],
              providers: list[str]) -> tuple[dict[str, np.ndarray], list[str], str, list[str]]:
    """Run an .onnx over an .npz eval set: whole chunks if every input's batch axis is dynamic, else one by one.
    Returns (outputs, output names, onnxruntime version, providers used)."""
    import onnxruntime as ort

    from ..agent.edgeeval_agent.data import dense_output
    from ..agent.edgeeval_agent.protocol import AgentError

    try:
        sess = ort.InferenceSession(str(model_path), providers=providers)
    except Exception as exc:
        raise BuildError(f"cannot load {Path(model_path).name} in onnxruntime {ort.__version__} "
                         f"with {providers}: {exc}") from exc
    with np.load(data_path) as z:
        feeds = {k: z[k] for k in input_names}
    n = len(next(iter(feeds.values())))
    dynamic = all(_dynamic_batch(i.shape) for i in sess.get_inputs())
    step = CHUNK if dynamic else 1
    names = [o.name for o in sess.get_outputs()]
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, n, step):
        outs = sess.run(names, {k: v[start:start + step] for k, v in feeds.items()})
        try:
            for acc, out, name in zip(parts, outs, names):
                acc.append(dense_output(out, name))   # ZipMap -> [N, C], as on the board
        except AgentError as exc:
            raise UserInputError(f"{model_path}: {exc}; name the outputs to score with data.scores / "
                                 "data.predicted_label (see README, 'Which output is scored')") from None
    outputs = {name: (np.concatenate(p) if p[0].ndim else np.stack(p)) for name, p in zip(names, parts)}
    return outputs, names, ort.__version__, sess.get_providers()


def _dynamic_batch(shape) -> bool:
    return bool(shape) and not (isinstance(shape[0], int) and shape[0] > 0)
