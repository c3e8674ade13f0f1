"""Every format/precision a recipe may name has a registered build step; every source type an exporter."""

from __future__ import annotations

import typing

import pytest

from edgeeval.recipes.schema import FORMAT_PRECISIONS, Source
from edgeeval.recipes.steps import EXPORTERS, STEPS
from edgeeval.registry import Registry


@pytest.mark.parametrize("fmt, precision", [(f, p) for f, ps in FORMAT_PRECISIONS.items() for p in ps])
def test_every_variant_kind_has_a_step(fmt, precision):
    assert f"{fmt}/{precision}" in STEPS


def test_every_source_type_has_an_exporter():
    types = typing.get_args(Source.model_fields["type"].annotation)
    assert sorted(types) == EXPORTERS.names()


def test_a_taken_name_fails_and_an_unknown_one_lists_the_known():
    reg = Registry("build step")
    reg.register("onnx/fp32")(object)
    with pytest.raises(RuntimeError, match="two build steps are registered as 'onnx/fp32'"):
        reg.register("onnx/fp32")(object)
    with pytest.raises(KeyError, match="known: onnx/fp32"):
        reg["onnx/fp99"]
