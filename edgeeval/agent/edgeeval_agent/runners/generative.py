"""Decoders for generative jobs (generate.py): one forward step of a causal language model with its
KV cache fed back, on onnxruntime and numpy alone.

The ONNX layout is the one optimum's `text-generation-with-past` export writes (and
edgeeval.testing.tinylm generates): inputs `input_ids` [batch, seq], optionally `attention_mask`
[batch, past+seq] and `position_ids` [batch, seq], and per layer `past_key_values.N.key|value`
[batch, kv_heads, past, head_dim]; outputs `logits` [batch, seq, vocab] and `present.N.key|value`.
A model with that layout runs; anything else is refused with the names it has.
"""

import re
import time

from ..protocol import DataError, JobError, _import
from ..registry import Registry
from .ort import OnnxRuntimeRunner

_PAST = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")
_NP_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}

DECODERS = Registry("decoder")


def ragged(z, name):
    """The sequences of an eval set's `<name>_ids` split at `<name>_offsets` (a loaded .npz)."""
    np = _import("numpy")
    if name + "_ids" not in z.files or name + "_offsets" not in z.files:
        raise DataError("the eval set has no %s_ids/%s_offsets arrays (a generative eval set holds prompt_, "
                        "text_ and bench_ token arrays); rebuild it with edgeeval build" % (name, name))
    ids, off = np.asarray(z[name + "_ids"], dtype=np.int64), np.asarray(z[name + "_offsets"], dtype=np.int64)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or off[-1] != len(ids) or (np.diff(off) < 0).any():
        raise DataError("%s_offsets do not split %s_ids (%d tokens)" % (name, name, len(ids)))
    return [ids[off[i]:off[i + 1]] for i in range(len(off) - 1)]


@DECODERS.register
class OrtDecoder(object):
    """A KV-cache decoder on an onnxruntime session (the session options of job.runtime apply)."""

    name = "onnxruntime"

    def __init__(self, spec):
        self.np = _import("numpy")
        self.ort_runner = OnnxRuntimeRunner(spec)
        self.sess = None

    def version(self):
        return self.ort_runner.version()

    def providers_available(self):
        return self.ort_runner.providers_available()

    def providers_used(self):
        return self.ort_runner.providers_used()

    def load(self, model_path):
        applied = self.ort_runner.load(model_path)
        self.sess = self.ort_runner.sess
        self._layout()
        return applied

    def _layout(self):
        ins = dict((i.name, i) for i in self.sess.get_inputs())
        outs = [o.name for o in self.sess.get_outputs()]
        if "input_ids" not in ins or "logits" not in outs:
            raise DataError("a generative job needs a decoder with input `input_ids` and output `logits`; "
                            "this model has inputs %s and outputs %s" % (sorted(ins), outs))
        self.has_mask = "attention_mask" in ins
        self.has_positions = "position_ids" in ins
        past = {}
        for name, i in ins.items():
            m = _PAST.match(name)
            if m:
                past[(int(m.group(1)), m.group(2))] = i
        layers = sorted(set(k[0] for k in past))
        if not layers or layers != list(range(len(layers))) or any((n, kv) not in past for n in layers
                                                                   for kv in ("key", "value")):
            raise DataError("a generative job needs a decoder exported with its KV cache "
                            "(inputs past_key_values.N.key/value for every layer); this model has inputs %s "
                            "(export with optimum's task text-generation-with-past)" % sorted(ins))
        extra = sorted(set(ins) - set(["input_ids", "attention_mask", "position_ids"])
                       - set("past_key_values.%d.%s" % k for k in past))
        if extra:
            raise DataError("the decoder has inputs this runner cannot feed: %s" % extra)
        self.past_names, self.present_names, self.past_shapes = [], [], []
        for n in layers:
            for kv in ("key", "value"):
                i = past[(n, kv)]
                shape = list(i.shape)
                if len(shape) != 4 or not isinstance(shape[1], int) or not isinstance(shape[3], int):
                    raise DataError("past_key_values.%d.%s has shape %s; [batch, heads, past, head_dim] with "
                                    "fixed heads and head_dim is needed" % (n, kv, shape))
                present = "present.%d.%s" % (n, kv)
                if present not in outs:
                    raise DataError("the decoder has input past_key_values.%d.%s but no output %s"
                                    % (n, kv, present))
                self.past_names.append(i.name)
                self.present_names.append(present)
                self.past_shapes.append((shape[1], shape[3], _NP_DTYPES.get(i.type, "float32")))
        self.layers = len(layers)
        self.output_names = ["logits"] + self.present_names

    def kv_bytes_per_token(self):
        """Bytes of KV cache one token of context holds (every layer, key and value)."""
        np = self.np
        return sum(h * d * np.dtype(t).itemsize for h, d, t in self.past_shapes)

    def empty_past(self):
        np = self.np
        return [np.zeros((1, h, 0, d), dtype=t) for h, d, t in self.past_shapes]

    def feed(self, ids, past, past_len):
        """The feed dict for `ids` (int64 [1, n]) after `past_len` tokens of cache (built outside timing)."""
        np = self.np
        n = ids.shape[1]
        f = {"input_ids": ids}
        if self.has_mask:
            f["attention_mask"] = np.ones((1, past_len + n), dtype=np.int64)
        if self.has_positions:
            f["position_ids"] = np.arange(past_len, past_len + n, dtype=np.int64).reshape(1, n)
        for name, value in zip(self.past_names, past):
            f[name] = value
        return f

    def bind(self):
        """(run, names): one forward step is run(names, feed) -> [logits, present...]."""
        return self.sess.run, self.output_names


def greedy(decoder, prompt, max_new, max_seconds, eos=(), perf=time.perf_counter_ns):
    """Greedy decoding of up to `max_new` tokens after `prompt` (int64 [n]), stopped by `max_seconds`
    and (when given) an end-of-sequence id. Returns a dict of what was timed:
    ttft_ns (prefill + first token), step_ns (token to token, decode steps), run_ns (inside the
    runtime call, every step), tokens (ids generated), stop (why it ended)."""
    np = decoder.np
    run, names = decoder.bind()
    ids = np.asarray(prompt, dtype=np.int64).reshape(1, -1)
    feed = decoder.feed(ids, decoder.empty_past(), 0)
    past_len = ids.shape[1]
    tokens, steps, runs = [], [], []
    stop = None
    t_start = last = perf()
    deadline = t_start + int(max_seconds * 1e9)
    while True:
        t0 = perf()
        out = run(names, feed)
        t1 = perf()
        runs.append(t1 - t0)
        tok = int(out[0][0, -1].argmax())
        now = perf()
        if tokens:
            steps.append(now - last)
        else:
            t_first = now
        last = now
        tokens.append(tok)
        if len(tokens) >= max_new:
            stop = "max_tokens"
        elif tok in eos:
            stop = "eos"
        elif now >= deadline:
            stop = "max_seconds"
        if stop:
            break
        feed = decoder.feed(np.array([[tok]], dtype=np.int64), out[1:], past_len)   # outside the runtime call
        past_len += 1
    return {"ttft_ns": t_first - t_start, "step_ns": steps, "run_ns": runs, "tokens": tokens, "stop": stop}


def teacher_forced(decoder, ids):
    """One prefill over `ids` (int64 [n]): the negative log-likelihood of each next token (float64 [n-1])
    and the argmax the model picks at each position (int32 [n-1])."""
    np = decoder.np
    run, names = decoder.bind()
    x = np.asarray(ids, dtype=np.int64).reshape(1, -1)
    if x.shape[1] < 2:
        raise DataError("a teacher-forced sequence needs at least 2 tokens")
    logits = run(names[:1], decoder.feed(x, decoder.empty_past(), 0))[0][0, :-1].astype(np.float64)
    targets = x[0, 1:]
    top = logits.max(axis=1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    nll = lse - logits[np.arange(len(targets)), targets]
    return nll, logits.argmax(axis=1).astype(np.int32)


def check_decoder_name(name):
    if name not in DECODERS:
        raise JobError("runtime.name is %r; this agent decodes with %s" % (name, ", ".join(sorted(DECODERS))))
    return DECODERS[name]
