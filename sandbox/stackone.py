"""A faithful in-process StackOne: `PATCH /unified/ats/assessments/orders/{id}/result` (providers.md §1).

Checks, in order (NestJS order: guards, then validation pipes, then the handler):
1. `Authorization: Basic base64(api_key:anything)` (SO-spec `securitySchemes.basic`), else 401.
2. `x-account-id` (required header, SO-spec): missing -> 400 "x-account-id header is required";
   a different account -> 403. Choice: the key authenticated, but the account is not reachable with it,
   and SO-spec-2512 declares `403 ForbiddenResponse` on the order operations; 401 is kept for bad keys.
3. The body against the CURRENT `AtsUpdateCandidatesAssessmentsResultsRequestDto` (§1.3, §1.7): unknown
   top-level keys (including the removed `id`) are refused so a stale adapter is caught; 400.
4. Unknown order id -> 404.
Errors use SO-spec-2512's `{statusCode, message, timestamp}`. `Prefer: heartbeat` (SO-sdk) answers with
`Preference-Applied: heartbeat` and "\\n\\n" keep-alive newlines before the JSON body.
StackOne has no order status: `results[id]` holds the last result body received (PATCH shape).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import seed_data
from sandbox._common import (
    Clock,
    InvalidJson,
    RecordedRequest,
    Recorder,
    control_routes,
    is_rfc3339,
    iso_millis,
    parse_json,
    utc_now,
)

_CREDS = seed_data.SANDBOX_CREDENTIALS["stackone"]
RESULT_VALUES = frozenset(
    {"initiated", "in_progress", "cancelled", "completed", "expired", "failed", "passed", "unmapped_value"}
)
CONTENT_TYPES = frozenset({"text", "pdf", "video", "other", "unmapped_value"})
BODY_KEYS = frozenset(
    {"score", "start_date", "submission_date", "summary", "result", "result_url", "attachments", "candidate",
     "passthrough"}
)  # fmt: skip


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class StackOneSandbox:
    api_key: str = _CREDS["api_key"]
    account_id: str = _CREDS["account_id"]
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[RecordedRequest] = field(default_factory=list)
    clock: Clock = utc_now

    def seed(self) -> None:
        self.orders = seed_data.stackone_orders()
        self.results = seed_data.stackone_results()

    def reset(self) -> None:
        self.seed()
        self.received.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self.orders.values())


# --------------------------------------------------------------------------- body validation


def _check_strings(obj: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise Refused(400, f"{where}.{key} must be a string")


def _check_object(value: Any, where: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise Refused(400, f"{where} must be an object")
    return value


def _check_result(value: Any) -> None:
    result = _check_object(value, "result")
    if result is not None and result.get("value") is not None and result["value"] not in RESULT_VALUES:
        raise Refused(400, f"result.value must be one of: {', '.join(sorted(RESULT_VALUES))}")


def _check_attachments(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise Refused(400, "attachments must be an array")
    for i, item in enumerate(value):
        where = f"attachments[{i}]"
        if not isinstance(item, dict):
            raise Refused(400, f"{where} must be an object")
        if not isinstance(item.get("url"), str):
            raise Refused(400, f"{where}.url must be a string")
        kind = _check_object(item.get("content_type"), f"{where}.content_type")
        if kind is not None and kind.get("value") is not None and kind["value"] not in CONTENT_TYPES:
            raise Refused(400, f"{where}.content_type.value must be one of: {', '.join(sorted(CONTENT_TYPES))}")


def validate_body(body: Any) -> None:
    """Raise `Refused(400, ...)` unless `body` fits the current result-update DTO."""
    if not isinstance(body, dict):
        raise Refused(400, "body must be a JSON object")
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise Refused(400, f"property {unknown[0]} should not exist")
    score = _check_object(body.get("score"), "score")
    if score is not None:
        _check_strings(score, ("label", "value", "min", "max"), "score")
    for key in ("start_date", "submission_date"):
        if body.get(key) is not None and not is_rfc3339(body[key]):
            raise Refused(400, f"{key} must be a valid ISO 8601 date-time string")
    _check_strings(body, ("summary", "result_url"), "body")
    _check_result(body.get("result"))
    _check_attachments(body.get("attachments"))
    candidate = _check_object(body.get("candidate"), "candidate")
    if candidate is not None:
        _check_strings(candidate, ("id", "profile_url"), "candidate")
    _check_object(body.get("passthrough"), "passthrough")


# --------------------------------------------------------------------------- HTTP


def _basic_username(header: str | None) -> str | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, _ = decoded.partition(":")
    return user if sep else None


def _authorize(state: StackOneSandbox, request: Request) -> None:
    if _basic_username(request.headers.get("authorization")) != state.api_key:
        raise Refused(401, "Unauthorized")
    account = request.headers.get("x-account-id")
    if not account:
        raise Refused(400, "x-account-id header is required")
    if account != state.account_id:
        raise Refused(403, "Forbidden resource: the account is not available to this API key")


def _answer(state: StackOneSandbox, request: Request, status: int, message: str) -> Response:
    payload = {"statusCode": status, "message": message, "timestamp": iso_millis(state.clock())}
    content, headers = json.dumps(payload).encode(), {}
    if "heartbeat" in request.headers.get("prefer", "").lower():
        content, headers = b"\n\n" + content, {"Preference-Applied": "heartbeat"}
    return Response(content, status_code=status, headers=headers, media_type="application/json")


async def _update_result(state: StackOneSandbox, request: Request) -> Response:
    _authorize(state, request)
    try:
        body = parse_json(await request.body())
    except InvalidJson:
        raise Refused(400, "Unexpected token in JSON body") from None
    validate_body(body)
    order_id = request.path_params["id"]
    if order_id not in state.orders:
        raise Refused(404, f"Assessment order {order_id} not found")
    state.results[order_id] = body
    return _answer(state, request, 200, "Record updated successfully.")


def create_app(state: StackOneSandbox) -> Starlette:
    """The StackOne sandbox app; routes at `/unified/...` plus the `/_sandbox/` control routes."""

    async def update_result(request: Request) -> Response:
        try:
            return await _update_result(state, request)
        except Refused as refused:
            return _answer(state, request, refused.status, refused.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _answer(state, request, exc.status_code, exc.detail)

    routes = [
        Route("/unified/ats/assessments/orders/{id}/result", update_result, methods=["PATCH"]),
        *control_routes(state),
    ]
    return Starlette(
        routes=routes, middleware=[Middleware(Recorder, state=state)],
        exception_handlers={HTTPException: http_error},
    )  # fmt: skip
