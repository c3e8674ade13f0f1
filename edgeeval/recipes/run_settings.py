"""`run:` of a recipe: the timed-run counts and durations, the batch size, the runtime's session
settings and the TFLite interpreter's. Defaults of the job itself live in edgeeval/jobdefaults.py."""


from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from .scenarios import ScenarioSettings

# "pkg.mod:fn" or "relative/file.py:fn"
from .schema_base import DAY_S, MAX_COUNT, _bad, _Strict  # noqa: F401


class RuntimeSettings(_Strict):
    """onnxruntime session settings sent to the board agent as they are. A language model may run
    under onnxruntime-genai instead (its own generation loop; the thread counts apply to it)."""
    name: Literal["onnxruntime", "onnxruntime-genai"] = "onnxruntime"
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"], min_length=1)
    provider_options: Optional[list[dict[str, Any]]] = None
    intra_op_num_threads: int = Field(1, ge=0, le=1024)
    inter_op_num_threads: int = Field(1, ge=0, le=1024)
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = "all"
    execution_mode: Literal["sequential", "parallel"] = "sequential"
    session_config: dict[str, str] = Field(default_factory=dict)
    tflite: Optional["TFLiteSettings"] = None   # settings for format: tflite variants (default below)


class TFLiteDelegate(_Strict):
    """An external delegate (i.MX VX, Coral Edge TPU, Qualcomm QNN...): loaded on the board as given."""
    library: str = Field(min_length=1)          # path or soname on the board, e.g. /usr/lib/libvx_delegate.so
    options: dict[str, Any] = Field(default_factory=dict)


class TFLiteSettings(_Strict):
    """LiteRT interpreter settings sent to the board agent for TFLite variants."""
    num_threads: int = Field(1, ge=1, le=1024)
    xnnpack: bool = True                        # the interpreter's default CPU delegate
    delegates: list[TFLiteDelegate] = Field(default_factory=list)


RuntimeSettings.model_rebuild()


class GenerateSettings(_Strict):
    """A generative model's measurement (the board agent's generate.py), llama-bench's tests and more:
    pp = one prefill at each of `prompt_lengths`; tg = `tg_tokens` decoded after `depths` tokens of
    context; each `repetitions` times (llama-bench's default 5). Then the prompt set is generated
    (up to `max_new_tokens`, stopped at EOS unless `stop_at_eos: false`): its token-to-token times
    are the per-token decode latencies. Every generation stops at its token count and at
    `max_seconds`; each phase at `phase_max_seconds`. The power protocol's "inference" is one
    generation of `power_tokens` tokens after the first prompt (energy per token = its energy / tokens).
    """
    prompt_lengths: list[int] = Field(default_factory=lambda: [32, 128, 512], min_length=1, max_length=16)
    depths: list[int] = Field(default_factory=lambda: [0, 128, 512], min_length=1, max_length=16)
    tg_tokens: int = Field(64, ge=2, le=65_536)
    repetitions: int = Field(5, ge=1, le=1000)
    max_new_tokens: int = Field(64, ge=2, le=65_536)
    stop_at_eos: bool = True
    max_seconds: float = Field(120.0, gt=0, le=DAY_S)
    phase_max_seconds: float = Field(600.0, gt=0, le=DAY_S)
    warmup: int = Field(2, ge=0, le=1000)
    warmup_max_seconds: float = Field(60.0, gt=0, le=3600.0)
    power_tokens: int = Field(32, ge=1, le=65_536)
    max_context: Optional[int] = Field(None, ge=2, le=1 << 24)   # default: the GGUF's context_length, else 2048

    @model_validator(mode="after")
    def _counts(self) -> "GenerateSettings":
        for name in ("prompt_lengths", "depths"):
            bad = [x for x in getattr(self, name) if x < (1 if name == "prompt_lengths" else 0) or x > 1 << 20]
            if bad:
                raise _bad(f"{name} {bad} out of range; token counts from {1 if name == 'prompt_lengths' else 0} "
                           "to 1048576")
        return self


class RunSettings(_Strict):
    """How long to measure. Defaults follow the usual practice: 10 warmup, >= 200 runs and >= 5 s."""
    warmup: int = Field(10, ge=0, le=100_000)
    warmup_max_seconds: float = Field(120.0, gt=0, le=3600.0)   # warmup stops here even if runs remain
    min_runs: int = Field(200, ge=1, le=MAX_COUNT)
    min_seconds: float = Field(5.0, ge=0, le=DAY_S)
    max_runs: int = Field(1_000_000, ge=1, le=MAX_COUNT)
    max_seconds: float = Field(600.0, gt=0, le=DAY_S)
    batch_size: int = Field(1, ge=1, le=65_536)
    accuracy: bool = True
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    scenario: Optional[ScenarioSettings] = None  # MLPerf-style scenario; see recipes/scenarios.py
    generate: GenerateSettings = Field(default_factory=GenerateSettings)  # generative sources only

    @model_validator(mode="after")
    def _bounds(self) -> "RunSettings":
        if self.max_runs < self.min_runs:
            raise _bad(f"max_runs ({self.max_runs}) is below min_runs ({self.min_runs}); raise max_runs")
        if self.max_seconds < self.min_seconds:
            raise _bad(f"max_seconds ({self.max_seconds}) is below min_seconds ({self.min_seconds}); "
                             "raise max_seconds")
        return self
