"""onnxruntime: an InferenceSession configured from job.runtime."""

from ..protocol import JobError, _import, _int
from .base import RUNNERS

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
               "tensor(double)": "float64", "tensor(int64)": "int64", "tensor(int32)": "int32",
               "tensor(int16)": "int16", "tensor(uint8)": "uint8", "tensor(int8)": "int8",
               "tensor(bool)": "bool"}


_ORT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


_ORT_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}


@RUNNERS.register
class OnnxRuntimeRunner(object):
    """onnxruntime InferenceSession configured from job["runtime"]."""

    name = "onnxruntime"

    def __init__(self, spec):
        self.spec = spec
        self.ort = _import("onnxruntime")
        self.sess = None

    def version(self):
        return getattr(self.ort, "__version__", None)

    def providers_available(self):
        return list(self.ort.get_available_providers())

    def load(self, model_path):
        """Create the session; returns the session options actually applied."""
        ort, spec = self.ort, self.spec
        so = ort.SessionOptions()
        applied = {}
        for key in ("intra_op_num_threads", "inter_op_num_threads"):
            if spec.get(key) is not None:
                setattr(so, key, _int(spec[key], "runtime." + key, 0))
                applied[key] = getattr(so, key)
        for key, names, enum in (("graph_optimization_level", _ORT_LEVELS, ort.GraphOptimizationLevel),
                                 ("execution_mode", _ORT_MODES, ort.ExecutionMode)):
            value = spec.get(key)
            if value is None:
                continue
            if value not in names:
                raise JobError("runtime.%s is %r; use one of %s" % (key, value, ", ".join(names)))
            setattr(so, key, getattr(enum, names[value]))
            applied[key] = value
        config = spec.get("session_config") or {}
        if not isinstance(config, dict):
            raise JobError("runtime.session_config must be an object of string entries")
        for key, value in sorted(config.items()):
            so.add_session_config_entry(str(key), str(value))
        applied["session_config"] = dict((str(k), str(v)) for k, v in config.items())
        providers = spec.get("providers") or ["CPUExecutionProvider"]
        missing = [p for p in providers if p not in self.providers_available()]
        if missing:
            raise JobError("runtime.providers asks for %s, but this onnxruntime offers only %s"
                           % (missing, self.providers_available()))
        options = spec.get("provider_options")
        if options is not None and (not isinstance(options, list) or len(options) != len(providers)):
            raise JobError("runtime.provider_options must be null or a list with one object per provider")
        self.sess = ort.InferenceSession(model_path, sess_options=so, providers=providers,
                                         provider_options=options)
        applied["providers"] = list(providers)
        applied["provider_options"] = options
        return applied

    def inputs(self):
        """[(name, shape, numpy dtype name)] as the model declares them."""
        return [(i.name, list(i.shape), _ORT_DTYPES.get(i.type)) for i in self.sess.get_inputs()]

    def output_names(self):
        return [o.name for o in self.sess.get_outputs()]

    def providers_used(self):
        return list(self.sess.get_providers())

    def bind(self):
        """(fn, arg): one inference is fn(arg, feed); kept this bare for the timed loop."""
        return self.sess.run, self.output_names()
