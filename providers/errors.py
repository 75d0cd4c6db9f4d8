"""The domain error tree. Every error a client sees carries one stable `ErrorCode`.

DomainError
├── InvalidInputError            BAD_USER_INPUT
├── ProviderRejectedInputError   BAD_USER_INPUT (+ provider, http.status)
├── OrderNotFoundError           NOT_FOUND
├── ResultConflictError          CONFLICT
├── ProviderAuthError            PROVIDER_AUTH_FAILED
├── ProviderRateLimitedError     PROVIDER_RATE_LIMITED (+ retryAfter)   retryable
├── ProviderUnavailableError     PROVIDER_UNAVAILABLE                   retryable
├── ProviderBadResponseError     PROVIDER_BAD_RESPONSE                  retryable
├── UnsupportedByProviderError   UNSUPPORTED_BY_PROVIDER
└── ServiceUnavailableError      SERVICE_UNAVAILABLE (the store is unreachable)  retryable
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from providers.models import ProviderName


class ErrorCode(StrEnum):
    """Every value `extensions.code` can take."""

    BAD_USER_INPUT = "BAD_USER_INPUT"
    BAD_REQUEST = "BAD_REQUEST"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    UNSUPPORTED_BY_PROVIDER = "UNSUPPORTED_BY_PROVIDER"
    PROVIDER_AUTH_FAILED = "PROVIDER_AUTH_FAILED"
    PROVIDER_RATE_LIMITED = "PROVIDER_RATE_LIMITED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    PROVIDER_BAD_RESPONSE = "PROVIDER_BAD_RESPONSE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    # The HTTP edge (server/): client auth, persisted queries, limits, GraphQL-over-HTTP rules.
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
    QUERY_NOT_IN_SAFELIST = "QUERY_NOT_IN_SAFELIST"
    PERSISTED_QUERY_ID_REQUIRED = "PERSISTED_QUERY_ID_REQUIRED"
    CSRF_ERROR = "CSRF_ERROR"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    MAX_DEPTH_LIMIT = "MAX_DEPTH_LIMIT"
    MAX_ALIASES_LIMIT = "MAX_ALIASES_LIMIT"
    MAX_ROOT_FIELDS_LIMIT = "MAX_ROOT_FIELDS_LIMIT"
    MAX_TOKENS_LIMIT = "MAX_TOKENS_LIMIT"
    COST_ESTIMATED_TOO_EXPENSIVE = "COST_ESTIMATED_TOO_EXPENSIVE"
    REQUEST_RATE_LIMITED = "REQUEST_RATE_LIMITED"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    # The service's own store is unreachable (an outage, not a bug): retry later.
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    # A stored record that no longer decodes (the delivery is FAILED with this code).
    STORED_RECORD_INVALID = "STORED_RECORD_INVALID"


class DomainError(Exception):
    """An expected failure with a stable code; its message is safe to show to clients."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_SERVER_ERROR
    # A delivery that failed with this error is retried later (the provider may take it then).
    retryable: ClassVar[bool] = False
    # The request may have reached the provider and been applied (timeout, connection dropped after
    # sending): the outcome is unknown, the order is quarantined before anything is sent again.
    ambiguous: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: ProviderName | None = None,
        status: int | None = None,
        field: str | None = None,
        provider_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.field = field
        self.provider_code = provider_code

    @property
    def extensions(self) -> dict[str, object]:
        ext: dict[str, object] = {"code": self.code.value}
        if self.provider is not None:
            ext["provider"] = self.provider.value
        if self.status is not None:
            ext["http"] = {"status": self.status}
        if self.field is not None:
            ext["field"] = self.field
        if self.provider_code is not None:
            ext["providerCode"] = self.provider_code
        return ext


class InvalidInputError(DomainError):
    code = ErrorCode.BAD_USER_INPUT


class ProviderRejectedInputError(DomainError):
    code = ErrorCode.BAD_USER_INPUT


class OrderNotFoundError(DomainError):
    code = ErrorCode.NOT_FOUND


class ResultConflictError(DomainError):
    code = ErrorCode.CONFLICT


class ProviderAuthError(DomainError):
    code = ErrorCode.PROVIDER_AUTH_FAILED


class ProviderRateLimitedError(DomainError):
    code = ErrorCode.PROVIDER_RATE_LIMITED
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after

    @property
    def extensions(self) -> dict[str, object]:
        ext = super().extensions
        if self.retry_after is not None:
            ext["retryAfter"] = self.retry_after
        return ext


class ProviderUnavailableError(DomainError):
    code = ErrorCode.PROVIDER_UNAVAILABLE
    retryable = True


class ProviderBadResponseError(DomainError):
    code = ErrorCode.PROVIDER_BAD_RESPONSE
    retryable = True


class UnsupportedByProviderError(DomainError):
    code = ErrorCode.UNSUPPORTED_BY_PROVIDER


class ServiceUnavailableError(DomainError):
    """The service's store is unreachable (connection refused or reset, timeout, I/O, serialization)."""

    code = ErrorCode.SERVICE_UNAVAILABLE
    retryable = True
    retry_after: float = 5.0
