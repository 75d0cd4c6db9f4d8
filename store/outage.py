"""Which store errors are an outage (retry later) rather than a bug: the one place that decides.

Connection refused, reset or dropped, timeouts, I/O errors, a server shutting down, serialization
failures and deadlocks are outages: the operation may succeed when tried again. Everything else
(a constraint the code should have respected, a malformed statement) is a programming error.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa

from providers.errors import ServiceUnavailableError

# SQLSTATE classes and codes of transient failures: connection exception, insufficient resources,
# operator intervention (shutdown, cannot connect now), system/I-O error, serialization, deadlock.
_TRANSIENT_CLASSES = ("08", "53", "57", "58")
_TRANSIENT_CODES = ("40001", "40P01")
_ASYNCPG_OUTAGES = (
    asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
    asyncpg.SerializationError, asyncpg.DeadlockDetectedError, asyncpg.TooManyConnectionsError,
)  # fmt: skip


def is_outage(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the store is unreachable or briefly unable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ServiceUnavailableError | OSError | TimeoutError | sa.TimeoutError | sa.DisconnectionError):
        return True
    if isinstance(exc, _ASYNCPG_OUTAGES):
        return True
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa.OperationalError | sa.InterfaceError):
            return True
        return _transient_sqlstate(exc.orig)
    return _transient_sqlstate(exc)


def _transient_sqlstate(exc: object) -> bool:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return isinstance(state, str) and (state.startswith(_TRANSIENT_CLASSES) or state in _TRANSIENT_CODES)


def as_service_unavailable(exc: BaseException) -> ServiceUnavailableError | None:
    """The domain error a caller sees for a store outage; None when `exc` is not one."""
    if isinstance(exc, ServiceUnavailableError):
        return exc
    if is_outage(exc):
        return ServiceUnavailableError("The service is temporarily unavailable; retry shortly.")
    return None
