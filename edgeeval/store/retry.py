"""Riding out a store that is briefly away (a PostgreSQL restart, a failover, a dropped connection).

A write that fails because the connection broke was rolled back by the server, so running it again
is safe; the engine's pool is pre-pinged, so the next try gets a fresh connection. `retrying` tries
for up to `budget_s`, backing off, then raises StoreUnavailable (a fault, exit 3: what was stored
before is intact, and a farm campaign completes on resume). Errors that are not about the connection
(a constraint, a bug) are raised at once.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from ..errors import DeviceError

T = TypeVar("T")
DEFAULT_BUDGET_S = 60.0


class StoreUnavailable(DeviceError):
    """The results store could not be reached for longer than the retry budget."""


def is_disconnect(exc: BaseException, server: bool) -> bool:
    """A lost or refused connection to a database server (`server`: PostgreSQL). SQLite has no
    server to lose: its errors (a locked file past its busy timeout, a missing table) are raised."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return server and isinstance(exc, OperationalError)


def retrying(fn: Callable[[], T], *, what: str, server: bool = True, budget_s: float = DEFAULT_BUDGET_S,
             on_retry=None) -> T:
    delay, deadline = 0.2, time.monotonic() + budget_s
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_disconnect(exc, server):
                raise
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable(f"the results store did not answer for {budget_s:g} s while {what} "
                                       f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                                       hint="check that the database server is up; what was stored before is "
                                            "kept, and `edgeeval farm resume` runs the rest") from None
            if on_retry is not None:
                on_retry(exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def retried(method):
    """Decorator for Store methods: the call again while the store's server is briefly away."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return retrying(lambda: method(self, *args, **kwargs), what=f"the store's {method.__name__}",
                        server=self.engine.dialect.name != "sqlite")
    return wrapper
