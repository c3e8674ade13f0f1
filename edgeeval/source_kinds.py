"""What differs per model source (`source.type`) after the build, registered by name: the server
reference, which outputs are scored, the embedding mask, a rebuild for the probed board.
The deploy stages ask the recipe's kind instead of testing `source.type`."""

from __future__ import annotations

from .registry import Registry

SOURCE_KINDS: Registry[type] = Registry("model source")


class SourceKind:
    """Defaults for sources whose fp32 artifact is the reference model (python, onnx)."""

    def reference(self, built, providers=None):
        """The server FP32 outputs: onnxruntime on the fp32 .onnx (reference/)."""
        from .reference import onnx_baseline

        return onnx_baseline(built, providers)

    def embedding_mask(self, recipe, built):
        return None

    def scoring(self, recipe, built, base, labels) -> dict:
        """The outputs to score (evaluate/scoring.py): from data.scores / data.predicted_label or the model."""
        from .evaluate.scoring import FIDELITY_GATES, choose

        gates = [recipe.gates] + [v.gates for v in recipe.variants if v.gates is not None]
        fidelity_gates = any(getattr(g, k) is not None for g in gates for k in FIDELITY_GATES)
        d = recipe.data
        where = {"scores": f"{recipe.line('data', 'scores')}: field data.scores",
                 "predicted_label": f"{recipe.line('data', 'predicted_label')}: field data.predicted_label",
                 "data": f"{recipe.line('data')}: field data"}
        outputs = {n: base.outputs[n] for n in base.output_names}
        return choose(outputs, built.fp32.outputs, scores=d.scores, label=d.predicted_label,
                      has_labels=labels is not None, fidelity_gates=fidelity_gates, where=where)

    def retarget(self, recipe_path, built, facts: dict, only, progress=None):
        """A build for this board's facts, or None when the board changes nothing."""
        return None


@SOURCE_KINDS.register("python")
class PythonSource(SourceKind):
    """A PyTorch module from a Python callable, exported by edgeeval."""


@SOURCE_KINDS.register("onnx")
class OnnxSource(SourceKind):
    """A user's .onnx file."""


@SOURCE_KINDS.register("huggingface")
class HuggingFaceSource(SourceKind):
    """A transformers model exported with optimum; the reference is the PyTorch model itself."""

    def reference(self, built, providers=None):
        from .reference import torch_baseline

        return torch_baseline(built)

    def embedding_mask(self, recipe, built):
        if recipe.source.task != "feature-extraction":
            return None
        from .recipes.huggingface import embedding_mask

        return embedding_mask(built.eval_set.path, list(built.eval_set.inputs))

    def scoring(self, recipe, built, base, labels) -> dict:
        from .evaluate.scoring import legacy

        # embeddings: the first output (last_hidden_state), pooled
        return {**legacy(base.output_names[0]), "chosen_by": "embedding task: first output"}

    def retarget(self, recipe_path, built, facts: dict, only, progress=None):
        """`auto` int8 variants rebuilt for the board's facts (arm64/avx2/avx512_vnni; cache hits when
        unchanged); None when the recipe has none."""
        if not any(v.precision == "int8-dynamic" and (v.optimum_config or "auto") == "auto"
                   for v in built.recipe.variants):
            return None
        from .recipes.build import build

        return build(recipe_path, only=only, progress=progress, target_facts=facts)


@SOURCE_KINDS.register("gguf")
class GgufSource(SourceKind):
    """A causal language model as one GGUF file (recipes/generative.py); its reference, job and
    evaluation are the generative ones (pipeline/generative.py), chosen by `source.generative`."""


def source_kind(recipe) -> SourceKind:
    return SOURCE_KINDS[recipe.source.type]()


def server_baseline(build_result, providers: list[str] | None = None):
    """The server FP32 outputs over the eval set (cached), as the recipe's source kind computes them."""
    return source_kind(build_result.recipe).reference(build_result, providers)
