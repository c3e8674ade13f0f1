"""Recipes: the YAML schema, the build (export + quantize) and the content-addressed artifact cache.

Importing this package is cheap (pydantic + yaml); torch, onnx and onnxruntime are imported
only by build steps that miss the cache.
"""

from .build import BuildResult, EvalSet, VariantArtifact, build, load_manifest
from .schema import Gates, Recipe, RunSettings, Variant, load_recipe

__all__ = ["BuildResult", "EvalSet", "Gates", "Recipe", "RunSettings", "Variant", "VariantArtifact",
           "build", "load_manifest", "load_recipe"]
