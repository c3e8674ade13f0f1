"""The eval set on the board: verified files, inputs cast to the model's dtypes, prebuilt feeds,
runtime outputs as plain arrays, byte-stable .npz outputs."""

import hashlib
import os
import zipfile

from .protocol import DataError, FileMismatchError, FileMissingError, _import

np = _import("numpy")


TIMED_FEED_SAMPLES = 64  # timed runs cycle through batches drawn from the first 64 samples


def _existing(path, what):
    if not os.path.isfile(path):
        raise FileMissingError("%s %s not found (cwd %s)" % (what, path, os.getcwd()))
    return path


def _verified(path, what, sha256):
    """`path`, once its sha256 is the job's: a cached file changed after the push check (a swap,
    a bad disk) must never be measured under the name of the model that should have run. A
    mismatching file is removed, so the next deploy pushes the right one again."""
    _existing(path, what)
    if sha256:
        got = _file_sha256(path)
        if got != sha256:
            try:
                os.unlink(path)
            except OSError:
                pass
            raise FileMismatchError("%s %s has sha256 %s..., not the %s... the job names: the file changed on "
                                    "the board after it was pushed; removed it (the next deploy pushes it again)"
                                    % (what, path, got[:16], str(sha256)[:16]))
    return path


def load_data(path, declared, batch_size, job_inputs):
    """Model inputs from the npz, cast to the declared dtypes; returns (arrays, samples)."""
    with np.load(_existing(path, "eval set"), allow_pickle=False) as z:
        keys = list(z.keys())
        model_names = [d[0] for d in declared]
        missing = [n for n in model_names if n not in keys or n not in job_inputs]
        if missing:
            raise DataError("model inputs %s are not all in the eval set: missing %s; eval set %s "
                            "has arrays %s, job data.inputs is %s"
                            % (model_names, missing, path, keys, job_inputs))
        arrays = {}
        for name, shape, dtype in declared:
            x = z[name]
            if x.ndim == 0:
                raise DataError("array %s in %s is a scalar; it needs a leading sample axis" % (name, path))
            if dtype is not None and x.dtype != np.dtype(dtype):
                x = x.astype(dtype)
            arrays[name] = np.ascontiguousarray(x)
    counts = dict((n, a.shape[0]) for n, a in arrays.items())
    if len(set(counts.values())) != 1:
        raise DataError("inputs in %s have different sample counts: %s" % (path, counts))
    samples = list(counts.values())[0]
    if samples == 0:
        raise DataError("eval set %s has no samples" % path)
    for name, shape, _ in declared:
        if shape and isinstance(shape[0], int) and shape[0] != batch_size:
            raise DataError("model input %s has a fixed batch dimension %d; set data.batch_size: %d"
                            % (name, shape[0], shape[0]))
    return arrays, samples


def batch_feed(arrays, start, batch_size, pad):
    """Feed for samples [start, start+batch_size); pads a short last batch when `pad`."""
    feed = {}
    for name, x in arrays.items():
        b = x[start:start + batch_size]
        if pad and b.shape[0] < batch_size:
            b = np.concatenate([b, np.repeat(b[-1:], batch_size - b.shape[0], axis=0)])
        feed[name] = b
    return feed


def write_npz(path, arrays):
    """Write arrays as an uncompressed .npz via tmp + rename, byte-stable; returns sha256."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent)
    tmp = "%s.tmp-%s" % (path, os.urandom(6).hex())
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in arrays:
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(arrays[name]), allow_pickle=False)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return _file_sha256(path)


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dense_output(value, name="output"):
    """One runtime output as a plain array that an .npz holds without pickle.

    A ZipMap output (onnxruntime gives a list of {class: score} dicts, one per sample, e.g.
    skl2onnx classifiers) becomes a float32 [N, C] array with the classes in sorted order, which
    is the classifier's class order (scikit-learn keeps classes_ sorted). String tensors become
    numpy unicode arrays. The controller converts its reference outputs with this same function.
    """
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            keys = sorted(value[0])
            if any(sorted(v) != keys for v in value):
                raise DataError("output %s is a sequence of maps whose keys differ between samples; "
                                "it cannot be read as class scores" % name)
            return np.array([[v[k] for k in keys] for v in value], dtype=np.float32)
        if not value:
            return np.zeros((0,), dtype=np.float32)
    a = np.asarray(value)
    if a.dtype == object:
        if all(isinstance(x, str) for x in a.ravel()):
            return a.astype(str)
        raise DataError("output %s holds Python objects (%s); only tensors, string tensors and ZipMap "
                        "outputs can be scored" % (name, type(a.ravel()[0]).__name__ if a.size else "empty"))
    return a


def index_feeds(arrays, samples, batch, count, fixed):
    """`count` feeds of `batch` samples each, taken in order and wrapping around the eval set."""
    if fixed is not None and fixed != batch:
        raise DataError("the model has a fixed batch dimension %d; a batch of %d needs a model "
                        "with a dynamic batch axis" % (fixed, batch))
    feeds = []
    for k in range(max(1, count)):
        idx = (np.arange(batch) + k * batch) % samples
        feeds.append(dict((n, np.ascontiguousarray(x[idx])) for n, x in arrays.items()))
    return feeds


def _fixed_batch(declared):
    for _, shape, _ in declared:
        if shape and isinstance(shape[0], int):
            return shape[0]
    return None
