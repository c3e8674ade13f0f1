"""The runtime registry. A runner class has `name` and the methods the job drives:
version(), providers_available(), load(model_path) -> applied settings, inputs() ->
[(name, shape, dtype)], output_names(), providers_used(), bind() -> (fn, arg) with one
inference = fn(arg, feed); optionally set_job(job), prepare_arrays(arrays) (before timing)
and finish_outputs(outputs) (after the accuracy pass)."""

from ..registry import Registry

RUNNERS = Registry("runtime")
