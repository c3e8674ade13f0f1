"""Controller inference of a Hugging Face model in PyTorch FP32 (transformers), the server reference
of an exported transformer."""

from __future__ import annotations

import numpy as np

from ..errors import BuildError

CHUNK = 32


def run_torch(build_result) -> tuple[dict[str, np.ndarray], list[str], dict]:
    """The fp32 artifact's outputs (by name, e.g. last_hidden_state) from the PyTorch model it was
    exported from; returns (outputs, names, meta)."""
    from ..recipes.huggingface import model_dir, offline

    model, ev = build_result.fp32, build_result.eval_set
    offline()
    import torch
    from transformers import AutoModel

    names = [o["name"] for o in model.outputs]
    folder = model_dir(build_result.recipe)
    net = AutoModel.from_pretrained(str(folder), local_files_only=True, torch_dtype=torch.float32).eval()
    with np.load(ev.path) as z:
        feeds = {k: z[k] for k in ev.inputs}
    n = len(next(iter(feeds.values())))
    parts: dict[str, list] = {k: [] for k in names}
    with torch.inference_mode():
        for s in range(0, n, CHUNK):
            out = net(**{k: torch.from_numpy(v[s:s + CHUNK]) for k, v in feeds.items()})
            for k in names:
                t = getattr(out, k, None)
                if t is None:
                    raise BuildError(f"the PyTorch model has no output {k!r} (the ONNX export has {names}); "
                                     "the server baseline cannot match it")
                parts[k].append(t.float().numpy())
    outputs = {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}
    return outputs, names, {"runtime_version": f"torch {torch.__version__}", "providers": ["pytorch-cpu"],
                            "model_folder": str(folder), "samples": n}
