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
ATS reads `GET /unified/ats/candidates|applications|jobs/{id}` (same auth checks; 404 for unknown ids) answer
`{"data": {...}}` (SO-spec CandidateResult / ApplicationResult / JobResult) from the records behind the orders.
Webhooks (providers.md §1.6, webhook_formats.md): `{id, event: "ats_assessments.created|updated", account_id,
record_id, event_date, provider, event_data}`; `event_data` is the full AssessmentOrder, or only its ids for
orders in `ids_only`. Signed with `x-stackone-signature` = base64url HMAC-SHA256(raw body), unpadded (header and
encoding configurable on the state).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable
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
    send,
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


EVENTS = ("created", "updated")
OVERRIDES = frozenset({"first_name", "last_name", "email", "phone", "package_id", "job_title", "ids_only"})
ATS_KINDS = {"candidates": "candidate", "applications": "application", "jobs": "job"}


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
    webhook_secret: str = _CREDS["webhook_secret"]
    webhook_target: WebhookTarget | None = None
    signature_header: str = "x-stackone-signature"
    signature_encoding: str = "base64url"
    ats_provider: str = "greenhouse"
    deliveries: list[Delivery] = field(default_factory=list)
    # Orders whose webhook carries only ids; the receiver reads the ATS records below.
    ids_only: set[str] = field(default_factory=set)
    # ATS records behind the orders: "candidate" | "application" | "job" -> id -> record.
    ats: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    created_count: int = 0
    faults: Faults = field(default_factory=Faults)  # fault switches, sandbox/_faults.py

    def seed(self) -> None:
        self.orders = seed_data.stackone_orders()
        self.results = seed_data.stackone_results()
        self.ids_only = set(seed_data.STACKONE_IDS_ONLY)
        self.ats = seed_data.stackone_ats()
        self.created_count = 0

    def reset(self) -> None:
        self.seed()
        self.faults = Faults()
        self.received.clear()
        self.deliveries.clear()

    def create_order(self, overrides: Any = None) -> dict[str, Any]:
        """A new order (fresh UUID) and its ATS records from `overrides`; `ids_only: true` marks it."""
        wanted = parse_overrides(overrides, OVERRIDES)
        self.created_count += 1
        oid = str(uuid.uuid4())
        person = seed_data.person(len(self.orders))
        if "phone" in wanted:
            person["phone"] = wanted["phone"]
        order = seed_data.stackone_order(person, oid, 100 + self.created_count)
        order["application"]["id"] = f"app-so-{oid[:8]}"
        order["candidate"]["id"] = f"cand-so-{oid[:8]}"
        order["job"]["id"] = f"job-so-{oid[:8]}"
        _apply_overrides(order, wanted)
        self.orders[oid] = order
        if wanted.get("ids_only"):
            self.ids_only.add(oid)
        for kind, record in seed_data.stackone_ats_records(order, person, iso_millis(self.clock())).items():
            self.ats.setdefault(kind, {})[record["id"]] = record
        return order

    def webhook_body(self, order_id: str, event: str, event_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        if event not in EVENTS:
            raise BadControlRequest(f"event must be one of {', '.join(EVENTS)}")
        data = _ids_only(order) if order_id in self.ids_only else order
        return {
            "id": event_id, "event": f"ats_assessments.{event}", "account_id": self.account_id,
            "record_id": order_id, "event_date": iso_millis(self.clock()), "provider": self.ats_provider,
            "event_data": data,
        }  # fmt: skip

    async def deliver(self, order_id: str, event: str = "created", *, event_id: str | None = None) -> int:
        """Sign and POST the order's `ats_assessments.<event>` webhook; the receiver's HTTP status."""
        event_id = event_id or str(uuid.uuid4())
        raw = compact_json(self.webhook_body(order_id, event, event_id))
        signature = encode_digest(hmac_digest(self.webhook_secret, raw), self.signature_encoding)
        headers = json_headers(**{self.signature_header.lower(): signature})
        return await send(self, Delivery(order_id, f"ats_assessments.{event}", event_id, headers, raw))

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self.orders.values())


def _ids_only(order: dict[str, Any]) -> dict[str, Any]:
    ids: dict[str, Any] = {"id": order["id"]}
    for key in ("package", "candidate", "application", "job"):
        if isinstance(order.get(key), dict):
            ids[key] = {"id": order[key].get("id")}
    return ids


def _apply_overrides(order: dict[str, Any], wanted: dict[str, Any]) -> None:
    candidate = order["candidate"]
    for key in ("first_name", "last_name"):
        if key in wanted:
            candidate[key] = wanted[key]
    if "email" in wanted:
        candidate["emails"] = [{"type": "personal", "value": wanted["email"]}]
    if "package_id" in wanted:
        order["package"].update({"id": wanted["package_id"], "remote_id": wanted["package_id"]})
    if "job_title" in wanted:
        order["job"]["title"] = wanted["job_title"]
    deep_merge(order, wanted.get("order", {}))


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


async def _read_ats(state: StackOneSandbox, request: Request, kind: str) -> Response:
    _authorize(state, request)
    record_id = request.path_params["id"]
    record = state.ats.get(kind, {}).get(record_id)
    if record is None:
        raise Refused(404, f"{kind.capitalize()} {record_id} not found")
    return Response(json.dumps({"data": record}).encode(), media_type="application/json")


WRITE_PATH = r"^/unified/ats/assessments/orders/([^/]+)/result$"


def _fault_body(status: int, message: str, code: str | None) -> bytes:
    return json.dumps({"statusCode": status, "message": message, "timestamp": iso_millis(utc_now())}).encode()


def create_app(state: StackOneSandbox) -> Starlette:
    """The StackOne sandbox app; routes at `/unified/...` plus the `/_sandbox/` control routes."""

    async def update_result(request: Request) -> Response:
        try:
            return await _update_result(state, request)
        except Refused as refused:
            return _answer(state, request, refused.status, refused.message)

    def read_ats(kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def read(request: Request) -> Response:
            try:
                return await _read_ats(state, request, kind)
            except Refused as refused:
                return _answer(state, request, refused.status, refused.message)

        return read

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _answer(state, request, exc.status_code, exc.detail)

    routes = [
        Route("/unified/ats/assessments/orders/{id}/result", update_result, methods=["PATCH"]),
        *[Route(f"/unified/ats/{path}/{{id}}", read_ats(kind), methods=["GET"]) for path, kind in ATS_KINDS.items()],
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
