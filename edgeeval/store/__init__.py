"""Results store (imports SQLAlchemy: import it lazily from the CLI)."""

from .schema import RUN_STATUSES, SCHEMA_VERSION, VARIANT_STATUSES
from .store import RunNotFoundError, Store, StoreIntegrityError, scrub, scrub_text

__all__ = ["RUN_STATUSES", "SCHEMA_VERSION", "VARIANT_STATUSES", "RunNotFoundError", "Store",
           "StoreIntegrityError", "scrub", "scrub_text"]
