"""A faithful in-process Unified.to: `PUT`/`PATCH /assessment/{connection_id}/order/{id}` (providers.md §3).

Checks, in order: `authorization: Bearer <api_key>` (scheme case-insensitive; the docs' example sends
`bearer ...`) else 401; unknown `connection_id` -> 404; unknown order -> 404; the body against
`AssessmentOrder` (required workspace_id + connection_id equal to this sandbox's, enums, numbers,
ISO-8601 dates, arrays) else 400. Unknown top-level keys are refused too (400) so a typo is caught.
The error body is NOT documented (UN-spec declares only 200); this sandbox answers `{"status", "message"}`.
PUT replaces the stored order with the body (keeping `id` and the server-managed `created_at`), PATCH merges
top-level keys; both set `updated_at` and answer the stored order. Query `fields` (repeated, as the spec's
form/explode array, or comma-joined) limits the answer to those fields plus `id`; `raw` is only recorded.
Webhooks (providers.md §3.6, webhook_formats.md): `{data: [<order>], webhook: {id, object_type:
"assessment_order", event, connection_id}, nonce, sig}` with `sig` = base64 HMAC-SHA1(workspace secret,
compact JSON of `data` + nonce) ("hex" configurable). Our documented reading: the docs give neither encoding nor
serialization.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
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
    is_number,
    is_rfc3339,
    is_str_list,
    iso_millis,
    parse_json,
    utc_now,
)
from sandbox._faults import FaultInjector, Faults, fault_routes
from sandbox._webhooks import (
    HEX,
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

_CREDS = seed_data.SANDBOX_CREDENTIALS["unified_to"]
STATUSES = frozenset({"OPEN", "IN_PROGRESS", "COMPLETED", "FAILED", "REJECTED"})
GENDERS = frozenset({"MALE", "FEMALE", "INTERSEX", "TRANS", "NON_BINARY"})
ATTRIBUTE_TYPES = frozenset({"TEXT", "NUMBER", "SUB_RESULT"})


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_list_of_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


_STRINGS = (
    "id", "workspace_id", "connection_id", "webhook_id", "package_id", "target_url", "reference",
    "application_id", "job_id", "company_id", "candidate_id", "employee_id", "profile_name",
    "profile_first_name", "profile_last_name", "profile_resume_url", "profile_national_identifier",
    "profile_ip_address", "profile_date_of_birth", "response_url", "response_redirect_url", "response_source",
)  # fmt: skip
_DATES = ("created_at", "updated_at", "response_completed_at", "response_expires_at", "response_issued_at")
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    **{key: (_is_str, "a string") for key in _STRINGS},
    **{key: (is_rfc3339, "an ISO-8601 date-time") for key in _DATES},
    **{key: (lambda v: v in STATUSES, f"one of {', '.join(sorted(STATUSES))}")
       for key in ("status", "response_status")},
    **{key: (is_number, "a number") for key in ("response_score", "response_max_score")},
    **{key: (is_str_list, "an array of strings")
       for key in ("profile_emails", "profile_telephones", "profile_social_media_urls", "response_download_urls")},
    **{key: (_is_list_of_objects, "an array of objects")
       for key in ("parameters", "profile_addresses", "response_details", "response_attributes")},
    "profile_gender": (lambda v: v in GENDERS, f"one of {', '.join(sorted(GENDERS))}"),
    "raw": (lambda v: isinstance(v, dict), "an object"),
}  # fmt: skip
FIELDS = frozenset(_CHECKS)


EVENTS = ("created", "updated")
OVERRIDES = frozenset({"first_name", "last_name", "email", "phone", "package_id", "status"})


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class UnifiedToSandbox:
    api_key: str = _CREDS["api_key"]
    connection_id: str = _CREDS["connection_id"]
    workspace_id: str = _CREDS["workspace_id"]
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[RecordedRequest] = field(default_factory=list)
    clock: Clock = utc_now
    webhook_secret: str = _CREDS["webhook_secret"]
    webhook_target: WebhookTarget | None = None
    webhook_id: str = seed_data.UNIFIED_WEBHOOK_ID
    signature_encoding: str = "base64"
    deliveries: list[Delivery] = field(default_factory=list)
    created_count: int = 0
    faults: Faults = field(default_factory=Faults)  # fault switches, sandbox/_faults.py

    def seed(self) -> None:
        self.orders = seed_data.unified_orders()
        self.created_count = 0

    def reset(self) -> None:
        self.seed()
        self.faults = Faults()
        self.received.clear()
        self.deliveries.clear()

    def create_order(self, overrides: Any = None) -> dict[str, Any]:
        """A new `AssessmentOrder` (fresh 24-hex id, created now) from `overrides`."""
        wanted = parse_overrides(overrides, OVERRIDES)
        status = wanted.get("status", "OPEN")
        if status not in STATUSES:
            raise BadControlRequest(f"status must be one of {', '.join(sorted(STATUSES))}")
        self.created_count += 1
        oid = random_token(24, HEX)
        person = seed_data.person(len(self.orders))
        order = seed_data.unified_order(person, oid, 100 + self.created_count, status, iso_millis(self.clock()))
        _apply_overrides(order, wanted)
        self.orders[oid] = order
        return order

    def webhook_body(self, order_id: str, event: str, nonce: str) -> dict[str, Any]:
        """The `assessment_order` delivery for the order as it is now, signed over data + nonce."""
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        if event not in EVENTS:
            raise BadControlRequest(f"event must be one of {', '.join(EVENTS)}")
        data = [order]
        digest = hmac_digest(self.webhook_secret, compact_json(data) + nonce.encode("utf-8"), "sha1")
        webhook = {"id": self.webhook_id, "object_type": "assessment_order", "event": event,
                   "connection_id": self.connection_id}  # fmt: skip
        return {"data": data, "webhook": webhook, "nonce": nonce, "sig": encode_digest(digest, self.signature_encoding)}

    async def deliver(self, order_id: str, event: str = "created", *, event_id: str | None = None) -> int:
        """POST the order's `assessment_order` webhook (the signature is in the body); the HTTP status.

        Unified.to deliveries carry no event id: `event_id` becomes the nonce."""
        nonce = event_id or random_token(32, HEX)
        raw = compact_json(self.webhook_body(order_id, event, nonce))
        return await send(self, Delivery(order_id, event, nonce, json_headers(), raw))

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self.orders.values())


def _apply_overrides(order: dict[str, Any], wanted: dict[str, Any]) -> None:
    for key in ("first_name", "last_name"):
        if key in wanted:
            order[f"profile_{key}"] = wanted[key]
    if "first_name" in wanted or "last_name" in wanted:
        order["profile_name"] = f"{order['profile_first_name']} {order['profile_last_name']}"
    if "email" in wanted:
        order["profile_emails"] = [wanted["email"]]
    if "phone" in wanted:
        order["profile_telephones"] = [wanted["phone"]]
    if "package_id" in wanted:
        order["package_id"] = wanted["package_id"]
    deep_merge(order, wanted.get("order", {}))


# --------------------------------------------------------------------------- body validation


def _check_attribute(item: dict[str, Any], where: str) -> None:
    if item.get("type") not in ATTRIBUTE_TYPES:
        raise Refused(400, f"{where}.type must be one of {', '.join(sorted(ATTRIBUTE_TYPES))}")
    if not isinstance(item.get("label"), str):
        raise Refused(400, f"{where}.label is required")
    for key, ok, what in (("value", _is_str, "a string"), ("reference", _is_str, "a string"),
                          ("score_value", is_number, "a number"), ("score_max", is_number, "a number"),
                          ("status", lambda v: v in STATUSES, "a valid status")):  # fmt: skip
        if item.get(key) is not None and not ok(item[key]):
            raise Refused(400, f"{where}.{key} must be {what}")


def _check_detail(item: dict[str, Any], where: str) -> None:
    for key in ("title", "text", "download_url", "parameter_id"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise Refused(400, f"{where}.{key} must be a string")
    for key in ("is_private", "is_failed_reason"):
        if item.get(key) is not None and not isinstance(item[key], bool):
            raise Refused(400, f"{where}.{key} must be a boolean")


def validate_body(state: UnifiedToSandbox, body: Any) -> None:
    """Raise `Refused(400, ...)` unless `body` is an `AssessmentOrder` for this workspace and connection."""
    if not isinstance(body, dict):
        raise Refused(400, "body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Refused(400, f"{unknown[0]} is not a field of AssessmentOrder")
    for key in ("workspace_id", "connection_id"):
        if key not in body:
            raise Refused(400, f"{key} is required")
    for key, value in body.items():
        ok, what = _CHECKS[key]
        if value is not None and not ok(value):
            raise Refused(400, f"{key} must be {what}")
    if body["workspace_id"] != state.workspace_id:
        raise Refused(400, "workspace_id does not match the connection's workspace")
    if body["connection_id"] != state.connection_id:
        raise Refused(400, "connection_id does not match the path")
    for i, item in enumerate(body.get("response_attributes") or []):
        _check_attribute(item, f"response_attributes[{i}]")
    for i, item in enumerate(body.get("response_details") or []):
        _check_detail(item, f"response_details[{i}]")


# --------------------------------------------------------------------------- HTTP


def _authorize(state: UnifiedToSandbox, request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() != state.api_key:
        raise Refused(401, "Unauthorized: invalid or missing API key")
    if request.path_params["connection_id"] != state.connection_id:
        raise Refused(404, "Connection not found")


def _fields(request: Request) -> list[str]:
    names = [n.strip() for raw in request.query_params.getlist("fields") for n in raw.split(",") if n.strip()]
    unknown = sorted(set(names) - FIELDS)
    if unknown:
        raise Refused(400, f"fields contains an unknown field {unknown[0]}")
    return names


async def _write(state: UnifiedToSandbox, request: Request, *, replace: bool) -> JSONResponse:
    _authorize(state, request)
    order_id = request.path_params["id"]
    stored = state.orders.get(order_id)
    if stored is None:
        raise Refused(404, "Order not found")
    fields = _fields(request)
    try:
        body = parse_json(await request.body())
    except InvalidJson:
        raise Refused(400, "body is not valid JSON") from None
    validate_body(state, body)
    kept = {"id": order_id, "created_at": body.get("created_at", stored.get("created_at"))}
    order = {**body, **kept} if replace else {**stored, **body, "id": order_id}
    order["updated_at"] = iso_millis(state.clock())
    state.orders[order_id] = order
    answer = {k: v for k, v in order.items() if k == "id" or k in fields} if fields else order
    return JSONResponse(answer)


WRITE_PATH = r"^/assessment/[^/]+/order/([^/]+)$"


def _fault_body(status: int, message: str, code: str | None) -> bytes:
    return json.dumps({"status": status, "message": message}).encode()


def create_app(state: UnifiedToSandbox) -> Starlette:
    """The Unified.to sandbox app; routes at `/assessment/...` plus the `/_sandbox/` control routes."""

    async def put(request: Request) -> JSONResponse:
        return await _answer(request, replace=True)

    async def patch(request: Request) -> JSONResponse:
        return await _answer(request, replace=False)

    async def _answer(request: Request, *, replace: bool) -> JSONResponse:
        try:
            return await _write(state, request, replace=replace)
        except Refused as refused:
            return JSONResponse({"status": refused.status, "message": refused.message}, status_code=refused.status)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"status": exc.status_code, "message": exc.detail}, status_code=exc.status_code)

    path = "/assessment/{connection_id}/order/{id}"
    routes = [
        Route(path, put, methods=["PUT"]), Route(path, patch, methods=["PATCH"]),
        *control_routes(state), *delivery_routes(state), *fault_routes(state),
    ]  # fmt: skip
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(Recorder, state=state),
            Middleware(FaultInjector, state=state, write_path=WRITE_PATH, error_body=_fault_body),
        ],
        exception_handlers={HTTPException: http_error},
    )  # fmt: skip
