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
├── ForeignConnectionError       CONNECTION_MISMATCH (a signed webhook of another tenant)
├── ServiceUnavailableError      SERVICE_UNAVAILABLE (the store is unreachable)  retryable
├── StoredRecordUnreadableError  STORED_RECORD_UNREADABLE (one record the store holds cannot be decoded)
├── EventCursorExpiredError      EVENT_CURSOR_EXPIRED
└── SubscriberTooSlowError       SUBSCRIBER_TOO_SLOW
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
    # Webhook intake (server/webhooks.py): a verified delivery whose signed content names another tenant.
    CONNECTION_MISMATCH = "CONNECTION_MISMATCH"
    # The service's own store is unreachable (an outage, not a bug): retry later.
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    # A stored order or result that cannot be decoded (written before the input bounds): that record only.
    STORED_RECORD_UNREADABLE = "STORED_RECORD_UNREADABLE"
    # Live events (subscriptions).
    EVENT_CURSOR_EXPIRED = "EVENT_CURSOR_EXPIRED"
    SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
    SUBSCRIPTION_LIMIT = "SUBSCRIPTION_LIMIT"


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


class ForeignConnectionError(DomainError):
    """A verified webhook whose signed content names another tenant than the connection it came in on."""

    code = ErrorCode.CONNECTION_MISMATCH


class ServiceUnavailableError(DomainError):
    """The service's store is unreachable (connection refused or reset, timeout, I/O, serialization)."""

    code = ErrorCode.SERVICE_UNAVAILABLE
    retryable = True
    retry_after: float = 5.0


class StoredRecordUnreadableError(DomainError):
    """A stored order or result that no longer decodes; reported for that record only.
    `record_id` (the order's global id or the result's id) is for the service, not for clients."""

    code = ErrorCode.STORED_RECORD_UNREADABLE

    def __init__(self, message: str, *, record_id: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.record_id = record_id


class EventCursorExpiredError(DomainError):
    """A subscription's `after` cursor points before the retained event log."""

    code = ErrorCode.EVENT_CURSOR_EXPIRED


class SubscriberTooSlowError(DomainError):
    """A subscriber's queue overflowed; it resumes with the last cursor it received."""

    code = ErrorCode.SUBSCRIBER_TOO_SLOW
