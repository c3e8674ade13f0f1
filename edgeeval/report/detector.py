"""apache-otava's change points for the HTML report's history, in a helper process when that is safe.

Importing otava (and scipy.stats with it) costs ~0.7 s of CPU; forked before the report imports
numpy or opens the store, a helper does that import while this process reads the store, then finds
the change points. Only stdlib is imported here, so `start_detector` can run first. A fork is made
only from a single-threaded process (a runtime's thread pool in the parent can deadlock a forked
child); otherwise, and where fork does not exist, the work is done in this process.
"""

from __future__ import annotations


def _import_detector() -> None:
    try:
        import otava.analysis  # noqa: F401
    except ImportError:
        pass


def change_points_many(series: list[list[float]]):
    from ..errors import UserInputError
    from ..regress.history import change_points

    try:
        return [change_points(v, "p90_ms") for v in series]
    except UserInputError as e:
        return str(e)


def _threads() -> int | None:
    """This process's OS threads (native ones included), from /proc; None where it cannot be read."""
    try:
        with open("/proc/self/status") as f:
            return next((int(ln.split()[1]) for ln in f if ln.startswith("Threads:")), None)
    except OSError:
        return None


def start_detector():
    """A helper process that imports apache-otava (and scipy.stats: ~0.7 s) while this one reads the
    store, then finds the history's change points. Forked, and only where /proc tells this process
    has one thread (Linux); elsewhere, or if it cannot start, None: the work is done here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods() or _threads() != 1:
        return None       # forking a process that runs other threads (a runtime's pool) can deadlock the child
    try:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
        pool.submit(_import_detector)
    except OSError:
        return None
    return pool
