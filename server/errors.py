"""Errors of the HTTP edge: refused before execution, each with one ErrorCode and an HTTP status."""

from __future__ import annotations

from collections.abc import Mapping

from providers.errors import ErrorCode


class RequestError(Exception):
    """A request refused as a whole: `{"errors": [{message, extensions: {code}}]}` with `status`."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        status: int = 400,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = dict(headers or {})
        self.extra = dict(extensions or {})

    def as_error(self) -> dict[str, object]:
        return {"message": self.message, "extensions": {"code": self.code.value, **self.extra}}


def bad_request(message: str) -> RequestError:
    return RequestError(ErrorCode.BAD_REQUEST, message, 400)
