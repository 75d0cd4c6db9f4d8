"""HTTP plumbing shared by the adapters: foreign errors are translated here, once."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from providers.errors import (
    DomainError,
    OrderNotFoundError,
    ProviderAuthError,
    ProviderBadResponseError,
    ProviderRateLimitedError,
    ProviderRejectedInputError,
    ProviderUnavailableError,
    ResultConflictError,
)
from providers.models import ProviderName

M = TypeVar("M", bound=BaseModel)
# A classifier reads a provider's structured error code; None falls back to the status table.
Classifier = Callable[[httpx.Response], type[DomainError] | None]

_BY_STATUS: dict[int, type[DomainError]] = {
    400: ProviderRejectedInputError,
    401: ProviderAuthError,
    403: ProviderAuthError,
    404: OrderNotFoundError,
    408: ProviderRateLimitedError,
    409: ResultConflictError,
    422: ProviderRejectedInputError,
    429: ProviderRateLimitedError,
}


def no_codes(response: httpx.Response) -> type[DomainError] | None:
    return None


@contextlib.contextmanager
def provider_errors(provider: ProviderName) -> Iterator[None]:
    """Turn transport failures (timeouts, refused or dropped connections) into domain errors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise _unavailable(f"{provider.value} timed out", provider, exc) from exc
    except httpx.TransportError as exc:
        raise _unavailable(f"{provider.value} is unreachable", provider, exc) from exc


# Failures that happen before the request can have left: the provider never saw it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


def _unavailable(message: str, provider: ProviderName, exc: Exception) -> ProviderUnavailableError:
    error = ProviderUnavailableError(message, provider=provider)
    error.ambiguous = not isinstance(exc, _NOT_SENT)
    return error


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def raise_for_provider(
    response: httpx.Response,
    provider: ProviderName,
    *,
    classify: Classifier = no_codes,
    provider_code: str | None = None,
) -> None:
    """Raise the domain error for an error response; return quietly on success."""
    if not response.is_error:
        return
    status = response.status_code
    error = classify(response) or _BY_STATUS.get(status) or _by_class(status)
    message = f"{provider.value} answered HTTP {status}"
    if error is ProviderRateLimitedError:
        raise ProviderRateLimitedError(
            message,
            provider=provider,
            status=status,
            provider_code=provider_code,
            retry_after=retry_after_seconds(response),
        )
    raised = error(message, provider=provider, status=status, provider_code=provider_code)
    # A gateway that gave up waiting (502/504): the provider may still apply the write.
    raised.ambiguous = error is ProviderUnavailableError and status in (502, 504)
    raise raised


def _by_class(status: int) -> type[DomainError]:
    return ProviderUnavailableError if status >= 500 else ProviderRejectedInputError


def parse_payload(model: type[M], content: bytes, *, provider: ProviderName) -> M:
    """Validate a response body against its payload model. Leading whitespace is tolerated
    (StackOne's `Prefer: heartbeat` sends newlines before the JSON)."""
    try:
        return model.model_validate_json(content.lstrip())
    except ValidationError as exc:
        raise ProviderBadResponseError(
            f"{provider.value} sent an unexpected response", provider=provider
        ) from exc
