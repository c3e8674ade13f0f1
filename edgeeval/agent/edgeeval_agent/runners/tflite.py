"""TFLite / LiteRT (docs/architecture.md, "TFLite"). The interpreter comes from the first of
ai_edge_litert, tflite_runtime, tensorflow.lite that imports; which one is recorded as the
runtime's "providers_used". job.runtime.tflite: {num_threads, xnnpack, delegates:
[{library, options}]}; external delegates are loaded with load_delegate exactly as given.
job.model.io maps the model's tensors (in order) to the eval set's input names and the fp32
model's output names, with int8 {scale, zero_point}: inputs are quantized once before the
timed loop (prepare_arrays), outputs dequantized after the accuracy pass (finish_outputs),
so the controller always compares float outputs. The timed call sets the input tensors,
invokes and reads the outputs: the runtime's own work, like onnxruntime's run()."""

import sys

from ..facts import _module_version
from ..protocol import AgentError, DataError, JobError, RuntimeMissingError, _install_hint, _int
from ..quant import dequantize, quantize
from .base import RUNNERS

_TFLITE_MODULES = (("ai_edge_litert.interpreter", "ai-edge-litert"),
                   ("tflite_runtime.interpreter", "tflite-runtime"),
                   ("tensorflow.lite", "tensorflow"))


class TFLiteIncompatibleError(AgentError):
    """The board's TFLite interpreter cannot run this model (known version traps, explained)."""


def _numpy_major():
    try:
        return int(__import__("numpy").__version__.split(".")[0])
    except Exception:
        return None


@RUNNERS.register
class TFLiteRunner(object):
    name = "tflite"

    def __init__(self, spec):
        self.spec = spec
        self.settings = spec.get("tflite") or {}
        errors = []
        self.mod = self.module_name = None
        for module, package in _TFLITE_MODULES:
            try:
                self.mod = __import__(module, fromlist=["_"])
                self.module_name, self.package = module.split(".")[0], package
                break
            except Exception as e:
                errors.append("%s: %s: %s" % (module, type(e).__name__, e))
        if self.mod is None:
            raise RuntimeMissingError("no TFLite interpreter for %s (%s); %s"
                                      % (sys.executable or "this python", "; ".join(errors),
                                         _install_hint("ai-edge-litert")))
        self.io = {}
        self.interp = None

    def set_job(self, job):
        self.io = job["model"].get("io") or {}

    def version(self):
        if self.module_name == "tensorflow":
            return getattr(__import__("tensorflow"), "__version__", None)
        info = _module_version(self.module_name)
        return info.get("version")

    def providers_available(self):
        return [self.module_name]

    def providers_used(self):
        return [self.module_name] + [d["library"] for d in self.settings.get("delegates") or []]

    def _explain(self, e):
        text = "%s: %s" % (type(e).__name__, e)
        np_major = _numpy_major()
        if self.module_name == "tflite_runtime" and np_major is not None and np_major >= 2:
            return ("tflite-runtime %s needs numpy<2; on this board numpy is %s (%s): pip install 'numpy<2' "
                    "in that environment or install ai-edge-litert" % (self.version(), __import__("numpy").__version__, text))
        if "Didn't find op for builtin opcode" in text or "Registration failed" in text:
            return ("%s %s cannot run this model: it lacks an op version the model uses (%s). Dynamic-range "
                    "int8 models need FULLY_CONNECTED version 12, which tflite-runtime 2.14 rejects; install "
                    "ai-edge-litert on the board or deploy a full-integer int8 / fp32 variant"
                    % (self.package, self.version(), text))
        return None

    def load(self, model_path):
        s = self.settings
        threads = _int(s.get("num_threads", 1), "runtime.tflite.num_threads", 1)
        kwargs = {"model_path": model_path, "num_threads": threads}
        delegates = []
        for i, d in enumerate(s.get("delegates") or []):
            if not isinstance(d, dict) or not isinstance(d.get("library"), str):
                raise JobError("runtime.tflite.delegates[%d] must be {library: path, options: {...}}" % i)
            try:
                delegates.append(self.mod.load_delegate(d["library"], dict(d.get("options") or {})))
            except Exception as e:
                raise RuntimeMissingError("cannot load TFLite delegate %s with options %s: %s: %s"
                                          % (d["library"], d.get("options") or {}, type(e).__name__, e))
        if delegates:
            kwargs["experimental_delegates"] = delegates
        xnnpack = bool(s.get("xnnpack", True))
        if not xnnpack:
            kwargs["experimental_op_resolver_type"] = self.mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interp = self.mod.Interpreter(**kwargs)
            self.interp.allocate_tensors()
        except Exception as e:
            why = self._explain(e)
            if why:
                raise TFLiteIncompatibleError(why)
            raise
        self.in_details = self.interp.get_input_details()
        self.out_details = self.interp.get_output_details()
        self.in_names = self._names(self.io.get("inputs"), self.in_details)
        self.out_names = self._names(self.io.get("outputs"), self.out_details)
        return {"interpreter": self.module_name, "num_threads": threads, "xnnpack": xnnpack,
                "delegates": [dict(library=d["library"], options=d.get("options") or {})
                              for d in s.get("delegates") or []]}

    def _names(self, declared, details):
        if not declared:
            return [d["name"] for d in details]
        if len(declared) != len(details):
            raise DataError("job.model.io names %d tensors, the model has %d" % (len(declared), len(details)))
        return [e["name"] for e in declared]

    def inputs(self):
        # dtype None for int8 inputs: load_data must not cast floats; prepare_arrays quantizes them
        out = []
        for name, d in zip(self.in_names, self.in_details):
            dt = d["dtype"].__name__
            out.append((name, [int(x) for x in d["shape"]], None if d["quantization"][0] else dt))
        return out

    def prepare_arrays(self, arrays):
        """Quantize float inputs with the tensor's scale/zero point (int8 models), before any timing."""
        out = dict(arrays)
        for name, d in zip(self.in_names, self.in_details):
            scale, zp = d["quantization"]
            if scale:
                out[name] = quantize(arrays[name], scale, zp, d["dtype"])
        return out

    def finish_outputs(self, outputs):
        """Dequantize int8 outputs: (q - zero_point) * scale, float32."""
        out = dict(outputs)
        for name, d in zip(self.out_names, self.out_details):
            scale, zp = d["quantization"]
            if scale and name in out:
                out[name] = dequantize(out[name], scale, zp)
        return out

    def output_names(self):
        return list(self.out_names)

    def _run(self, arg, feed):
        it = self.interp
        for index, name in arg[0]:
            it.set_tensor(index, feed[name])
        it.invoke()
        return [it.get_tensor(index) for index in arg[1]]

    def bind(self):
        arg = ([(d["index"], n) for d, n in zip(self.in_details, self.in_names)],
               [d["index"] for d in self.out_details])
        return self._run, arg
