"""The content-addressed artifact cache and the small JSON records that make cache hits free.

Artifacts live in paths.artifacts_dir() as `<sha256><suffix>`, named by their own bytes,
written to a temp file and renamed. The key store maps cache keys to artifact sha256s
(plus the metadata a hit must return) so a second build reads JSON and stats files only.
File hashes are memoised by (path, size, mtime_ns, inode) so large inputs are read once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .. import paths

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()   # read once, at import: os.umask is process-wide and not safe to flip in threads


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """`data` to `path` through a temporary name and a rename: readers see the old file or the new one.
    The file gets the mode open() would give it (0666 less the umask), not the temporary file's 0600:
    reports, JUnit and Markdown are for other users and CI agents to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


class FileHashes:
    """sha256 of user files, memoised on stat so an unchanged file is never read twice."""

    def __init__(self, store: Path | None = None):
        self.store = store or paths.builds_dir() / "file-hashes.json"
        self._memo: dict = read_json(self.store, {}) or {}
        self._dirty = False

    def sha256(self, path: Path) -> str:
        path = Path(path).resolve()
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self._memo.get(str(path))
        if entry and entry["stat"] == stamp:
            return entry["sha256"]
        digest = sha256_file(path)
        self._memo[str(path)] = {"stat": stamp, "sha256": digest}
        self._dirty = True
        return digest

    def remember(self, path: Path, kind: str, value: Any) -> None:
        """Attach a derived fact (e.g. an .onnx file's external-data list) to a file's current stat."""
        path = Path(path).resolve()
        self.sha256(path)
        self._memo[str(path)][kind] = value
        self._dirty = True

    def recall(self, path: Path, kind: str) -> Any:
        path = Path(path).resolve()
        self.sha256(path)
        return self._memo[str(path)].get(kind)

    def save(self) -> None:
        if self._dirty:
            write_json_atomic(self.store, self._memo)
            self._dirty = False


def artifact_path(sha256: str, suffix: str) -> Path:
    return paths.artifacts_dir() / f"{sha256}{suffix}"


def has_artifact(sha256: str, suffix: str, size: int | None = None) -> bool:
    """The cheap check a cache hit relies on: the file exists with the recorded size."""
    try:
        st = artifact_path(sha256, suffix).stat()
    except OSError:
        return False
    return size is None or st.st_size == size


def store_file(src: Path, suffix: str, *, move: bool = False) -> tuple[str, Path, int]:
    """Put a file into the cache under its own sha256; return (sha256, path, size)."""
    src = Path(src)
    digest = sha256_file(src)
    dest = artifact_path(digest, suffix)
    size = src.stat().st_size
    if dest.exists() and dest.stat().st_size == size:
        if move:
            src.unlink()
        return digest, dest, size
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".tmp-", dir=dest.parent)
    os.close(fd)
    if move:
        shutil.move(str(src), tmp)
    else:
        shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o444)
    os.replace(tmp, dest)
    return digest, dest, size


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    """An uncompressed .npz with fixed timestamps and key order: same arrays, same bytes, same sha256.

    np.savez stamps the current time into the zip, which would change the eval set's
    hash (and force a re-push and a new baseline) on every rebuild.
    """
    import numpy as np

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[key]), allow_pickle=False)


class KeyStore:
    """Cache key -> {"artifacts": [{"sha256", "suffix", "size"}], "meta": {...}}, one JSON file per key.

    Keys are content hashes, so the store is shared by all recipes: a copied or moved
    recipe hits the same entries, and concurrent builds never rewrite each other's files.
    """

    def __init__(self, root: Path | None = None):
        self.root = root or paths.builds_dir() / "keys"

    def _file(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def hit(self, key: str) -> dict | None:
        """The entry for `key` when every artifact it names is still in the cache with its size."""
        entry = read_json(self._file(key))
        if not entry:
            return None
        for art in entry.get("artifacts", []):
            if not has_artifact(art["sha256"], art["suffix"], art["size"]):
                return None
        return entry

    def put(self, key: str, artifacts: list[dict], meta: dict) -> dict:
        entry = {"artifacts": artifacts, "meta": meta}
        write_json_atomic(self._file(key), entry)   # at once: a later failing step keeps this one
        return entry
