"""The board-side lock: one edgeeval job per board at a time, even between controllers that do
not share a results store (their leases cannot see each other). An exclusive flock held by the
agent process for the whole job; the kernel drops it when the process ends, however it ends, so
a killed agent never leaves the board locked."""

import json
import os
import time

from .protocol import AgentError


class BoardBusyError(AgentError):
    """Another edgeeval job holds this board's lock."""


def hold(path, job_id):
    """Take the lock at `path` (created if missing) or raise BoardBusyError naming the holder.
    Returns the open file: the lock lasts as long as it stays open (the process's life)."""
    import fcntl

    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    f = open(path, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read(400).strip() or "no holder recorded"
        f.close()
        raise BoardBusyError("another edgeeval job is running on this board (lock %s held: %s); two "
                             "measurements never share a board, so this job did not start" % (path, holder))
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"pid": os.getpid(), "job_id": job_id, "since_epoch": round(time.time(), 3)}))
    f.flush()
    return f
