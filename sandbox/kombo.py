"""A faithful in-process Kombo (`/v1`): list orders and write results (providers.md §2, KB-spec, seeds 002/003).

Checks: `Authorization: Bearer <api_key>` else 401 `PLATFORM.AUTHENTICATION_INVALID`; `X-Integration-Id`
missing -> 400 `PLATFORM.INPUT_INVALID`, another integration -> 404 `PLATFORM.INTEGRATION_NOT_FOUND`.
Errors use `ErrorResponseATS`: `{status: "error", error: {code, title, message, log_url}}`.
`GET /v1/assessment/orders` pages with an opaque cursor; `created_after` is inclusive ("on or after", KB-spec).
`PUT /v1/assessment/orders/{id}/result` validates the body, answers 404 (code null,
title "Not found") for an unknown order, and enforces the documented rule that `status` may change only
while the order is OPEN. `completed_at` is required for COMPLETED/CANCELLED (the older shape, seed 003).
Webhooks (providers.md §2.7): `{id, type: "assessment:order-received" | "inline-assessment:order-received",
data: <order> + integration_id}` signed with `X-Kombo-Signature` = base64url HMAC-SHA256(raw body), no padding.
Kombo has no order-updated webhook: `deliver(event="updated")` re-sends `assessment:order-received` as a new
event; `event="inline"` sends `inline-assessment:order-received`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import seed_data
from sandbox._common import (
    Clock,
    InvalidJson,
    RecordedRequest,
    Recorder,
    control_routes,
    is_absolute_uri,
    is_number,
    parse_json,
    utc_now,
)
from sandbox._faults import FaultInjector, Faults, fault_routes
from sandbox._webhooks import (
    BadControlRequest,
    Delivery,
    UnknownOrder,
    WebhookTarget,
    compact_json,
    deep_merge,
    delivery_routes,
    encode_digest,
    hmac_digest,
    json_headers,
    parse_overrides,
    random_token,
    send,
)

_CREDS = seed_data.SANDBOX_CREDENTIALS["kombo"]
STATUSES = ("OPEN", "COMPLETED", "CANCELLED", "REJECTED")
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 250, 100
WRITE_STATUSES = ("COMPLETED", "CANCELLED", "OPEN")
BODY_KEYS = frozenset(
    {"status", "result_url", "completed_at", "score", "max_score", "attributes", "attachments", "remote_fields"}
)
COMPLETED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?)?Z?$")
_CONTENT_TYPE = re.compile(r"^[\w.-]+\/[\w.-]+$")
MAX_ATTACHMENTS = 5
EVENTS = {
    "created": "assessment:order-received",
    "updated": "assessment:order-received",
    "inline": "inline-assessment:order-received",
    "assessment:order-received": "assessment:order-received",
    "inline-assessment:order-received": "inline-assessment:order-received",
}
OVERRIDES = frozenset({"first_name", "last_name", "email", "phone", "package_id", "job_title", "status"})
_TITLES = {
    "PLATFORM.AUTHENTICATION_INVALID": "Authentication invalid",
    "PLATFORM.INPUT_INVALID": "Input invalid",
    "PLATFORM.INTEGRATION_NOT_FOUND": "Integration not found",
}


class Refused(Exception):
    def __init__(self, status: int, code: str | None, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.title = title or _TITLES.get(code or "", "Error")


@dataclass
class KomboSandbox:
    api_key: str = _CREDS["api_key"]
    integration_id: str = _CREDS["integration_id"]
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: dict[str, datetime] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[RecordedRequest] = field(default_factory=list)
    clock: Clock = utc_now
    errors_logged: int = 0
    webhook_secret: str = _CREDS["webhook_secret"]
    webhook_target: WebhookTarget | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    created_count: int = 0
    faults: Faults = field(default_factory=Faults)  # fault switches, sandbox/_faults.py
    # Each order as it was before its last write, and when that write was applied: what a read shows
    # while Kombo has not synced the write yet (the `stale_read_seconds` switch).
    before_write: dict[str, tuple[dict[str, Any], datetime]] = field(default_factory=dict)

    def seed(self) -> None:
        self.orders = seed_data.kombo_orders()
        self.created_at = seed_data.kombo_created_at()
        self.results = {}
        self.before_write = {}
        self.created_count = 0

    def reset(self) -> None:
        self.seed()
        self.faults = Faults()
        self.received.clear()
        self.deliveries.clear()

    def create_order(self, overrides: Any = None) -> dict[str, Any]:
        """A new order (fresh Kombo-style id, created now) from `overrides`, listed by GET /assessment/orders."""
        wanted = parse_overrides(overrides, OVERRIDES)
        if wanted.get("status", "OPEN") not in STATUSES:
            raise BadControlRequest(f"status must be one of {', '.join(STATUSES)}")
        self.created_count += 1
        oid = random_token(24)
        person = seed_data.person(len(self.orders))
        order = seed_data.kombo_order(person, oid, 100 + self.created_count, wanted.get("status", "OPEN"))
        _apply_overrides(order, wanted)
        self.orders[oid], self.created_at[oid] = order, self.clock()
        return order

    def webhook_body(self, order_id: str, event: str, event_id: str) -> dict[str, Any]:
        """The `assessment:order-received` (or inline) event for the order as it is now."""
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        if event not in EVENTS:
            raise BadControlRequest(f"event must be one of {', '.join(EVENTS)}")
        data = {"id": order["id"], "integration_id": self.integration_id, **order}
        return {"id": event_id, "type": EVENTS[event], "data": data}

    async def deliver(self, order_id: str, event: str = "created", *, event_id: str | None = None) -> int:
        """Sign and POST the order's webhook to `webhook_target`; the receiver's HTTP status."""
        event_id = event_id or random_token(24)
        raw = compact_json(self.webhook_body(order_id, event, event_id))
        signature = encode_digest(hmac_digest(self.webhook_secret, raw), "base64url")
        headers = json_headers(**{"x-kombo-signature": signature})
        return await send(self, Delivery(order_id, EVENTS[event], event_id, headers, raw))

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self.orders.values())

    @property
    def tool(self) -> str:
        return self.integration_id.partition(":")[0]


def _apply_overrides(order: dict[str, Any], wanted: dict[str, Any]) -> None:
    candidate = order["candidate"]
    for key in ("first_name", "last_name", "email", "phone"):
        if key in wanted:
            candidate[key] = wanted[key]
    if "package_id" in wanted:
        order["package_id"] = wanted["package_id"]
    if "job_title" in wanted:
        order["job"]["name"] = wanted["job_title"]
    deep_merge(order, wanted.get("order", {}))


def _error(state: KomboSandbox, refused: Refused) -> JSONResponse:
    state.errors_logged += 1
    log_url = f"https://app.kombo.dev/logs/sandbox-{state.errors_logged:06d}"
    error = {"code": refused.code, "title": refused.title, "message": refused.message, "log_url": log_url}
    return JSONResponse({"status": "error", "error": error}, status_code=refused.status)


def _authorize(state: KomboSandbox, request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() != state.api_key:
        raise Refused(401, "PLATFORM.AUTHENTICATION_INVALID", "The API key is missing or invalid.")
    integration = request.headers.get("x-integration-id")
    if not integration:
        raise Refused(400, "PLATFORM.INPUT_INVALID", "The X-Integration-Id header is required.")
    if integration != state.integration_id:
        raise Refused(404, "PLATFORM.INTEGRATION_NOT_FOUND", f"No integration with the ID {integration!r} exists.")


# --------------------------------------------------------------------------- GET /assessment/orders


def _invalid(message: str) -> Refused:
    return Refused(400, "PLATFORM.INPUT_INVALID", message)


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise _invalid(f"page_size must be an integer between 1 and {MAX_PAGE_SIZE}.")
    return int(raw)


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _invalid("cursor is invalid.") from None
    if not isinstance(offset, int) or offset < 0:
        raise _invalid("cursor is invalid.")
    return offset


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _csv(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _statuses(raw: str | None) -> set[str]:
    wanted = set(_csv(raw))
    bad = sorted(wanted - set(STATUSES))
    if bad:
        raise _invalid(f"statuses contains an invalid value {bad[0]!r}; allowed: {', '.join(STATUSES)}.")
    return wanted


def _created_after(raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    if not COMPLETED_AT.match(raw):
        raise _invalid("created_after must be a date-time like YYYY-MM-DDTHH:mm:ss.sssZ.")
    try:
        moment = datetime.fromisoformat(raw.rstrip("Z"))
    except ValueError:
        raise _invalid("created_after must be a date-time like YYYY-MM-DDTHH:mm:ss.sssZ.") from None
    return moment.replace(tzinfo=UTC)


def _as_read(state: KomboSandbox, order_id: str, order: dict[str, Any]) -> dict[str, Any]:
    """The order as a read shows it: before its last write while that write is not synced yet."""
    earlier = state.before_write.get(order_id)
    lag = timedelta(seconds=state.faults.stale_read_seconds)
    if earlier is not None and state.clock() < earlier[1] + lag:
        return earlier[0]
    return order


def _list_orders(state: KomboSandbox, request: Request) -> JSONResponse:
    query = request.query_params
    size, offset = _page_size(query.get("page_size")), _offset(query.get("cursor"))
    ids, statuses, after = set(_csv(query.get("ids"))), _statuses(query.get("statuses")), _created_after(
        query.get("created_after")
    )
    matching = [
        _as_read(state, oid, order)
        for oid, order in sorted(state.orders.items(), key=lambda kv: (state.created_at[kv[0]], kv[0]))
        if (not ids or oid in ids) and (not statuses or _as_read(state, oid, order)["status"] in statuses)
        and (after is None or state.created_at[oid] >= after)
    ]  # fmt: skip
    page = matching[offset : offset + size]
    nxt = _cursor(offset + size) if offset + size < len(matching) else None
    return JSONResponse({"status": "success", "data": {"next": nxt, "results": page}})


# --------------------------------------------------------------------------- result body (§2.4, seeds 002/003)


class Invalid(Exception):
    """The result body breaks the documented schema; the message names the field."""


def _require_str(obj: dict[str, Any], key: str, where: str) -> None:
    if not isinstance(obj.get(key), str):
        raise Invalid(f"{where}{key} is required and must be a string.")


def _check_text(item: dict[str, Any], where: str) -> None:
    _require_str(item, "label", where)
    _require_str(item, "value", where)


def _check_sub_result(item: dict[str, Any], where: str) -> None:
    _require_str(item, "id", where)
    _require_str(item, "label", where)
    score = item.get("score")
    if not isinstance(score, dict) or not is_number(score.get("value")) or not is_number(score.get("max")):
        raise Invalid(f"{where}score must be an object with numbers value and max.")
    if score["max"] < 1:
        raise Invalid(f"{where}score.max must be at least 1.")
    if item.get("status") not in ("COMPLETED", "CANCELLED"):
        raise Invalid(f"{where}status must be COMPLETED or CANCELLED.")


def _check_attributes(value: Any) -> None:
    if not isinstance(value, list):
        raise Invalid("attributes must be an array.")
    for i, item in enumerate(value):
        where = f"attributes[{i}]."
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "TEXT":
            _check_text(item, where)
        elif kind == "SUB_RESULT":
            _check_sub_result(item, where)
        else:
            raise Invalid(f"{where}type must be TEXT or SUB_RESULT.")


def _check_attachment(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise Invalid(f"{where} must be an object.")
    _require_str(item, "name", f"{where}.")
    kind, data, url = item.get("content_type"), item.get("data"), item.get("data_url")
    if kind is not None and (not isinstance(kind, str) or not _CONTENT_TYPE.match(kind)):
        raise Invalid(f"{where}.content_type must be a MIME type like application/pdf.")
    if data is None and url is None:
        raise Invalid(f"{where} needs data_url or data.")
    if url is not None and not is_absolute_uri(url):
        raise Invalid(f"{where}.data_url must be an absolute URI.")
    if data is not None:
        if kind is None:
            raise Invalid(f"{where}.content_type is required when data is given.")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise Invalid(f"{where}.data must be base64.") from None


def _check_attachments(value: Any) -> None:
    if not isinstance(value, list):
        raise Invalid("attachments must be an array.")
    if len(value) > MAX_ATTACHMENTS:
        raise Invalid(f"attachments must have at most {MAX_ATTACHMENTS} items.")
    for i, item in enumerate(value):
        _check_attachment(item, f"attachments[{i}]")


def _check_required(body: dict[str, Any]) -> None:
    if body.get("status") not in WRITE_STATUSES:
        raise Invalid(f"status is required and must be one of {', '.join(WRITE_STATUSES)}.")
    if not is_absolute_uri(body.get("result_url")):
        raise Invalid("result_url is required and must be an absolute URI.")
    completed_at = body.get("completed_at")
    if completed_at is None and body["status"] in ("COMPLETED", "CANCELLED"):
        raise Invalid("completed_at is required when status is COMPLETED or CANCELLED.")
    if completed_at is not None and (not isinstance(completed_at, str) or not COMPLETED_AT.match(completed_at)):
        raise Invalid("completed_at must look like YYYY-MM-DDTHH:mm:ss.sssZ.")


def validate_body(body: Any) -> None:
    """Raise `Invalid` unless `body` fits `PutAssessmentOrdersAssessmentOrderIdResultRequestBody`."""
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise Invalid(f"{unknown[0]} is not a known field.")
    _check_required(body)
    for key in ("score", "max_score"):
        if key in body and not is_number(body[key]):
            raise Invalid(f"{key} must be a number.")
    if "attributes" in body:
        _check_attributes(body["attributes"])
    if "attachments" in body:
        _check_attachments(body["attachments"])
    if "remote_fields" in body and not isinstance(body["remote_fields"], dict):
        raise Invalid("remote_fields must be an object.")


# --------------------------------------------------------------------------- PUT /assessment/orders/{id}/result


def _warnings(state: KomboSandbox, body: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"message": f"remote_fields.{key} was ignored because this integration is {state.tool}."}
        for key in (body.get("remote_fields") or {})
        if key != state.tool
    ]


async def _put_result(state: KomboSandbox, request: Request) -> JSONResponse:
    try:
        body = parse_json(await request.body())
        validate_body(body)
    except InvalidJson:
        raise _invalid("The request body is not valid JSON.") from None
    except Invalid as invalid:
        raise _invalid(str(invalid)) from None
    order_id = request.path_params["assessment_order_id"]
    order = state.orders.get(order_id)
    if order is None:
        raise Refused(404, None, f"The assessment order {order_id!r} could not be found.", title="Not found")
    changes = body["status"] != order["status"] or state.faults.write_once
    if order["status"] != "OPEN" and changes:
        raise _invalid("status can only be updated while the order is OPEN")
    state.before_write[order_id] = (copy.deepcopy(order), state.clock())
    order["status"] = body["status"]
    state.results[order_id] = body
    return JSONResponse({"status": "success", "data": {}, "warnings": _warnings(state, body)})


WRITE_PATH = r"^/v1/assessment/orders/([^/]+)/result$"


def _fault_body(status: int, message: str, code: str | None) -> bytes:
    error = {"code": code or "PLATFORM.UNKNOWN_ERROR", "title": "Error", "message": message,
             "log_url": "https://app.kombo.dev/logs/sandbox-fault"}  # fmt: skip
    return json.dumps({"status": "error", "error": error}).encode()


def create_app(state: KomboSandbox) -> Starlette:
    """The Kombo sandbox app; API routes under `/v1`, control routes under `/_sandbox/`."""

    async def list_orders(request: Request) -> JSONResponse:
        try:
            _authorize(state, request)
            return _list_orders(state, request)
        except Refused as refused:
            return _error(state, refused)

    async def put_result(request: Request) -> JSONResponse:
        try:
            _authorize(state, request)
            return await _put_result(state, request)
        except Refused as refused:
            return _error(state, refused)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        title = "Not found" if exc.status_code == 404 else "Error"
        return _error(state, Refused(exc.status_code, None, str(exc.detail), title=title))

    routes = [
        Route("/v1/assessment/orders", list_orders, methods=["GET"]),
        Route("/v1/assessment/orders/{assessment_order_id}/result", put_result, methods=["PUT"]),
        *control_routes(state),
        *fault_routes(state),
        *delivery_routes(state),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(Recorder, state=state),
            Middleware(FaultInjector, state=state, write_path=WRITE_PATH, error_body=_fault_body),
        ],
        exception_handlers={HTTPException: http_error},
    )  # fmt: skip
