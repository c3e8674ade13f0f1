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

    # what generate.py asks of every decoder

    def greedy(self, prompt, max_new, max_seconds, eos=()):
        return greedy(self, prompt, max_new, max_seconds, eos)

    def teacher_forced(self, ids):
        return teacher_forced(self, ids)

    def prefill_ns(self, ids):
        """The time of one prefill of `ids` (int64 [1, n]): the runtime call alone."""
        run, names = self.bind()
        feed = self.feed(ids, self.empty_past(), 0)
        t0 = time.perf_counter_ns()
        run(names[:1], feed)
        return time.perf_counter_ns() - t0

    def close(self):
        pass


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
    g = _Generation(max_new, max_seconds, eos, perf())
    while True:
        t0 = perf()
        out = run(names, feed)
        t1 = perf()
        g.runs.append(t1 - t0)
        tok = int(out[0][0, -1].argmax())
        if g.emitted(tok, perf()):
            return g.result()
        feed = decoder.feed(np.array([[tok]], dtype=np.int64), out[1:], past_len)   # outside the runtime call
        past_len += 1


class _Generation(object):
    """One greedy generation's bookkeeping: the token-to-token times, the first token's, the
    runtime calls', and why it stopped (its token count, an EOS id, its seconds)."""

    def __init__(self, max_new, max_seconds, eos, start):
        self.max_new, self.eos = max_new, eos
        self.start = self.last = start
        self.deadline = start + int(max_seconds * 1e9)
        self.tokens, self.steps, self.runs = [], [], []
        self.first = self.stop = None

    def emitted(self, tok, now):
        """`tok` came out at `now`; True when the generation ends with it."""
        if self.tokens:
            self.steps.append(now - self.last)
        else:
            self.first = now
        self.last = now
        self.tokens.append(tok)
        if len(self.tokens) >= self.max_new:
            self.stop = "max_tokens"
        elif tok in self.eos:
            self.stop = "eos"
        elif now >= self.deadline:
            self.stop = "max_seconds"
        return self.stop is not None

    def result(self):
        return {"ttft_ns": self.first - self.start, "step_ns": self.steps, "run_ns": self.runs,
                "tokens": self.tokens, "stop": self.stop}


def teacher_forced(decoder, ids):
    """One prefill over `ids` (int64 [n]): the negative log-likelihood of each next token (float64 [n-1])
    and the argmax the model picks at each position (int32 [n-1])."""
    np = decoder.np
    run, names = decoder.bind()
    x = np.asarray(ids, dtype=np.int64).reshape(1, -1)
    if x.shape[1] < 2:
        raise DataError("a teacher-forced sequence needs at least 2 tokens")
    logits = run(names[:1], decoder.feed(x, decoder.empty_past(), 0))[0][0, :-1]
    return nll_and_argmax(np, logits, x[0, 1:])


def nll_and_argmax(np, logits, targets):
    """Per position: -log softmax(logits)[target] (float64) and the argmax (int32)."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    nll = lse - logits[np.arange(len(targets)), targets]
    return nll, logits.argmax(axis=1).astype(np.int32)


@DECODERS.register
class GenaiDecoder(object):
    """The same decoder run by onnxruntime-genai, the runtime's own generation loop (its KV cache,
    its search), where the board has it. The controller sends the model's layout (job.runtime.layout:
    layers, KV heads, head size, vocab, input and output names, from the built model's I/O); the agent
    writes a genai_config.json for it beside a link to the cached model. genai's end-of-sequence ids
    are the job's; where a phase ignores EOS (llama-bench's tg tests, stop_at_eos false) genai's
    min_length masks them, since genai cannot step past an EOS it picked (the work per step is the
    same, and tg never reads the tokens).
    Timing: around append_tokens (the prompt's prefill) and generate_next_token (one forward step and
    the greedy pick), the calls a genai application makes."""

    name = "onnxruntime-genai"

    def __init__(self, spec):
        self.np = _import("numpy")
        self.og = _import("onnxruntime_genai", "onnxruntime-genai")
        if hasattr(self.og, "disable_telemetry_events"):
            self.og.disable_telemetry_events()     # a measurement sends nothing anywhere
        self.spec = spec
        self.layout = spec.get("layout")
        if not isinstance(self.layout, dict):
            raise JobError("runtime.layout (the decoder's layout for genai_config.json) must be an object")
        self.model = None
        self.folder = None

    def version(self):
        return getattr(self.og, "__version__", None)

    def providers_available(self):
        return ["CPUExecutionProvider"]

    def providers_used(self):
        return ["CPUExecutionProvider"]      # the config names no other provider

    def config(self):
        """genai_config.json for the layout; the session options are the job's (as onnxruntime's)."""
        lay, spec = self.layout, self.spec
        opts = {"log_id": "edgeeval", "provider_options": [],
                "intra_op_num_threads": int(spec.get("intra_op_num_threads", 1)),
                "inter_op_num_threads": int(spec.get("inter_op_num_threads", 1))}
        names = lay["names"]
        return {"model": {"type": "decoder", "context_length": lay["context"], "vocab_size": lay["vocab"],
                          "bos_token_id": 0, "pad_token_id": 0, "eos_token_id": list(lay["eos"]) or [0],
                          "decoder": {"filename": "model.onnx", "session_options": opts,
                                      "head_size": lay["head_size"], "num_key_value_heads": lay["kv_heads"],
                                      "num_hidden_layers": lay["layers"], "inputs": names["inputs"],
                                      "outputs": names["outputs"]}},
                "search": {"do_sample": False, "num_beams": 1, "num_return_sequences": 1, "top_k": 1,
                           "max_length": lay["context"], "min_length": 0, "past_present_share_buffer": False,
                           "repetition_penalty": 1.0, "length_penalty": 1.0, "temperature": 1.0}}

    def load(self, model_path):
        import json
        import os
        import shutil
        import tempfile

        cfg = self.config()
        self.folder = tempfile.mkdtemp(prefix="edgeeval-genai-")
        try:
            os.symlink(os.path.abspath(model_path), os.path.join(self.folder, "model.onnx"))
            with open(os.path.join(self.folder, "genai_config.json"), "w") as f:
                json.dump(cfg, f, indent=1)
            self.model = self.og.Model(self.folder)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
            raise
        self.layers = int(self.layout["layers"])
        return {"runner": "onnxruntime-genai", "session_options": cfg["model"]["decoder"]["session_options"]}

    def close(self):
        import shutil

        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def kv_bytes_per_token(self):
        lay = self.layout
        return 2 * lay["layers"] * lay["kv_heads"] * lay["head_size"] * self.np.dtype(lay["kv_dtype"]).itemsize

    def _generator(self, length, stop_at_eos=True):
        params = self.og.GeneratorParams(self.model)
        if stop_at_eos:
            params.set_search_options(max_length=int(length), do_sample=False)
        else:
            params.set_search_options(max_length=int(length), min_length=int(length), do_sample=False)
        return self.og.Generator(self.model, params)

    def greedy(self, prompt, max_new, max_seconds, eos=(), perf=time.perf_counter_ns):
        """As greedy() for onnxruntime: ttft_ns, step_ns, run_ns, tokens, stop."""
        np = self.np
        ids = np.asarray(prompt, dtype=np.int32)
        gen = self._generator(len(ids) + max_new, bool(eos))       # outside the timers, like a feed
        g = _Generation(max_new, max_seconds, eos, perf())
        gen.append_tokens(ids)
        while True:
            t0 = perf()
            gen.generate_next_token()
            t1 = perf()
            g.runs.append(t1 - (t0 if g.tokens else g.start))     # the first call holds the prefill too
            if g.emitted(int(gen.get_next_tokens()[0]), perf()):
                return g.result()

    def teacher_forced(self, ids):
        np = self.np
        x = np.asarray(ids, dtype=np.int32)
        if len(x) < 2:
            raise DataError("a teacher-forced sequence needs at least 2 tokens")
        gen = self._generator(len(x) + 1)
        gen.append_tokens(x)
        logits = np.asarray(gen.get_output("logits"))[0]
        return nll_and_argmax(np, logits[:-1], x[1:].astype(np.int64))

    def prefill_ns(self, ids):
        gen = self._generator(ids.shape[1] + 1)
        x = self.np.asarray(ids[0], dtype=self.np.int32)
        t0 = time.perf_counter_ns()
        gen.append_tokens(x)
        return time.perf_counter_ns() - t0


@DECODERS.register
class LlamaCppDecoder(object):
    """A GGUF under llama.cpp (llama-cpp-python's `llama_cpp`), where the board has it: the model and
    context from its Llama class, each step one llama_decode of a batch whose logits flags say which
    positions to score (the last for decoding, every one for the teacher-forced pass). The context
    holds `n_ctx` tokens, the job's longest sequence (llama.cpp allocates its KV cache up front, so
    peak RSS counts what this job needs, not the model's whole context). Timing: around
    llama_decode, the batch filled before the timer."""

    name = "llama.cpp"
    needs_context = True        # generate.py passes n_ctx: the longest sequence of the job

    def __init__(self, spec):
        self.np = _import("numpy")
        self.lc = _import("llama_cpp", "llama-cpp-python")
        self.spec = spec
        self.llm = None

    def version(self):
        return getattr(self.lc, "__version__", None)

    def providers_available(self):
        return ["CPU"]

    def providers_used(self):
        return ["CPU"]

    def load(self, model_path):
        n = int(self.spec.get("n_threads") or 1)
        n_ctx = int(self.spec.get("n_ctx") or 512)
        self.n_batch = max(32, min(n_ctx, 512))
        self.llm = self.lc.Llama(model_path=model_path, n_ctx=n_ctx, n_batch=self.n_batch, n_ubatch=self.n_batch,
                                 n_threads=n, n_threads_batch=n, logits_all=False, verbose=False)
        ctx, batch = getattr(self.llm, "_ctx", None), getattr(self.llm, "_batch", None)
        if ctx is None or batch is None or not hasattr(batch, "set_batch") or not hasattr(ctx, "kv_cache_clear"):
            raise DataError("llama-cpp-python %s lacks the context and batch this runner drives (tested with 0.3)"
                            % self.version())
        self.ctx, self.batch = ctx, batch
        self.vocab = int(self.llm.n_vocab())
        meta = dict(getattr(self.llm, "metadata", {}) or {})
        arch = meta.get("general.architecture", "llama")
        try:
            self.layers = int(meta["%s.block_count" % arch])
            heads = int(meta["%s.attention.head_count" % arch])
            kv_heads = int(meta.get("%s.attention.head_count_kv" % arch, heads))
            head_dim = int(meta.get("%s.attention.key_length" % arch) or int(meta["%s.embedding_length" % arch]) // heads)
        except (KeyError, ValueError) as e:
            raise DataError("the GGUF's header lacks %s (layers, heads): %s" % (arch, e))
        self._kv = 2 * self.layers * kv_heads * head_dim * 2      # key + value per layer, f16 (llama.cpp's default)
        info = getattr(self.lc, "llama_print_system_info", None)     # the build's CPU features (AVX2, NEON...)
        return {"runner": "llama.cpp", "n_ctx": n_ctx, "n_batch": self.n_batch, "n_threads": n,
                "kv_cache_type": "f16", "system_info": info().decode("utf-8", "replace").strip() if info else None}

    def close(self):
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    def kv_bytes_per_token(self):
        return self._kv

    def _logits(self, rows):
        return self.np.ctypeslib.as_array(self.ctx.get_logits(), shape=(rows, self.vocab))

    def _decode_timed(self, ids, n_past, every, perf):
        """llama_decode of `ids` after `n_past` tokens, in n_batch chunks: the time inside llama_decode,
        and the logits of every position (`every`) or of the last one."""
        ns, logits = 0, None
        for i in range(0, len(ids), self.n_batch):
            chunk = ids[i:i + self.n_batch]
            self.batch.set_batch(batch=chunk, n_past=n_past + i, logits_all=every)
            t0 = perf()
            self.ctx.decode(self.batch)
            ns += perf() - t0
            if every:
                part = self._logits(len(chunk)).copy()
                logits = part if logits is None else self.np.concatenate([logits, part])
        return ns, (logits if every else self._logits(1)[0])

    def greedy(self, prompt, max_new, max_seconds, eos=(), perf=time.perf_counter_ns):
        """As greedy() for onnxruntime: ttft_ns, step_ns, run_ns, tokens, stop."""
        ids = [int(x) for x in prompt]
        self.ctx.kv_cache_clear()
        g = _Generation(max_new, max_seconds, eos, perf())
        n_past = 0
        while True:
            ns, logits = self._decode_timed(ids, n_past, False, perf)
            g.runs.append(ns)
            tok = int(logits.argmax())
            if g.emitted(tok, perf()):
                return g.result()
            n_past += len(ids)
            ids = [tok]

    def teacher_forced(self, ids):
        x = [int(t) for t in ids]
        if len(x) < 2:
            raise DataError("a teacher-forced sequence needs at least 2 tokens")
        self.ctx.kv_cache_clear()
        _, logits = self._decode_timed(x, 0, True, time.perf_counter_ns)
        return nll_and_argmax(self.np, logits[:-1], self.np.asarray(x[1:], dtype=self.np.int64))

    def prefill_ns(self, ids):
        self.ctx.kv_cache_clear()
        ns, _ = self._decode_timed([int(t) for t in ids[0]], 0, False, time.perf_counter_ns)
        return ns


def check_decoder_name(name):
    if name not in DECODERS:
        raise JobError("runtime.name is %r; this agent decodes with %s" % (name, ", ".join(sorted(DECODERS))))
    return DECODERS[name]
