"""Webhook delivery plumbing shared by the sandboxes: target, signing, ids, overrides and control routes.

Control routes (not recorded, not part of any provider API):
`POST /_sandbox/orders` (optional JSON overrides) creates an order and delivers its webhook when a target is
set: 201 `{"order": <wire order>, "webhook_status": <int|null>}`.
`POST /_sandbox/orders/{id}/deliver?event=updated` re-sends an order's webhook (a new event).
`GET /_sandbox/webhooks` lists what was sent. Refusals: `{"error": <code>, "message": <str>}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox._common import CONTROL_PREFIX, InvalidJson, parse_json

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
STRING_OVERRIDES = frozenset({"first_name", "last_name", "email", "phone", "package_id", "job_title", "status"})


@dataclass
class WebhookTarget:
    """Where a sandbox posts its webhooks: the service's `/webhooks/{connection_id}`."""

    client: httpx.AsyncClient
    url: str


@dataclass
class Delivery:
    """One webhook the sandbox sent, and what the receiver answered (None: not answered)."""

    order_id: str
    event: str
    event_id: str
    headers: dict[str, str]
    raw_body: bytes
    status: int | None = None
    response: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id, "event": self.event, "event_id": self.event_id, "headers": self.headers,
            "body": json.loads(self.raw_body), "status": self.status, "response": self.response,
        }  # fmt: skip


class NoWebhookTarget(Exception):
    """The sandbox has no webhook target set."""


class UnknownOrder(Exception):
    """No order with this id in the sandbox."""


class BadControlRequest(Exception):
    """A control request the sandbox cannot act on (bad overrides, unknown event)."""


class Sender(Protocol):
    orders: dict[str, dict[str, Any]]
    webhook_target: WebhookTarget | None
    deliveries: list[Delivery]

    def create_order(self, overrides: Any = None) -> dict[str, Any]: ...

    async def deliver(self, order_id: str, event: str = "created", *, event_id: str | None = None) -> int: ...


# --------------------------------------------------------------------------- signing, ids, bodies


def compact_json(value: Any) -> bytes:
    """`JSON.stringify` output: no spaces, keys in insertion order, UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def hmac_digest(secret: str, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret.encode("utf-8"), message, algorithm).digest()


def encode_digest(digest: bytes, encoding: str) -> str:
    """Encode as "base64url" (no `=` padding), "base64" or "hex"."""
    if encoding == "base64url":
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
    if encoding == "base64":
        return base64.b64encode(digest).decode()
    if encoding == "hex":
        return digest.hex()
    raise ValueError(f"unknown signature encoding {encoding!r}")


def random_token(length: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def seeded_token(length: int, *parts: str, alphabet: str = ALNUM) -> str:
    """A token that looks random but is a function of `parts` (seed deliveries repeat byte for byte)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    while len(digest) < length:
        digest += hashlib.sha256(digest).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def seeded_uuid(*parts: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256("\x1f".join(parts).encode()).digest()[:16], version=4))


def seed_event_id(provider: str, order_id: str, event: str) -> str:
    """The event id `deliver_all` uses, so re-seeding the same record is a redelivery, not a new event."""
    return seeded_token(24, "seed", provider, order_id, event)


async def send(state: Sender, delivery: Delivery) -> int:
    """POST the signed body to the target, record the delivery, return the HTTP status."""
    target = state.webhook_target
    if target is None:
        raise NoWebhookTarget("no webhook target is set for this sandbox")
    state.deliveries.append(delivery)
    response = await target.client.post(target.url, content=delivery.raw_body, headers=delivery.headers)
    delivery.status = response.status_code
    try:
        delivery.response = response.json()
    except ValueError:
        delivery.response = response.text
    return response.status_code


def json_headers(**extra: str) -> dict[str, str]:
    return {"content-type": "application/json", **extra}


# --------------------------------------------------------------------------- overrides


def parse_overrides(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """The control request's overrides: flat keys from `allowed` plus `order` (deep-merged into the order)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadControlRequest("the body must be a JSON object of overrides")
    unknown = sorted(set(body) - allowed - {"order"})
    if unknown:
        raise BadControlRequest(f"unknown override {unknown[0]!r}; allowed: {', '.join(sorted(allowed | {'order'}))}")
    for key, value in body.items():
        if key in STRING_OVERRIDES and not isinstance(value, str):
            raise BadControlRequest(f"{key} must be a string")
    if "ids_only" in body and not isinstance(body["ids_only"], bool):
        raise BadControlRequest("ids_only must be a boolean")
    if "order" in body and not isinstance(body["order"], dict):
        raise BadControlRequest("order must be an object")
    return body


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge `extra` into `base` in place (objects recursively); the top-level `id` is never replaced."""
    for key, value in extra.items():
        if key == "id":
            continue
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_nested(base[key], value)
        else:
            base[key] = value
    return base


def _merge_nested(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_nested(base[key], value)
        else:
            base[key] = value


# --------------------------------------------------------------------------- control routes


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _deliver_or_none(state: Sender, order_id: str, event: str) -> int | None:
    """Deliver when a target is set; None when there is none or the receiver could not be reached."""
    if state.webhook_target is None:
        return None
    try:
        return await state.deliver(order_id, event)
    except httpx.HTTPError:
        return None


def delivery_routes(state: Sender) -> list[Route]:
    """`POST /_sandbox/orders`, `POST /_sandbox/orders/{id}/deliver`, `GET /_sandbox/webhooks`."""

    async def create(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            order = state.create_order(parse_json(raw) if raw.strip() else None)
        except InvalidJson:
            return _refuse(400, "MALFORMED_BODY", "the body is not JSON")
        except BadControlRequest as bad:
            return _refuse(400, "INVALID_OVERRIDES", str(bad))
        status = await _deliver_or_none(state, order["id"], "created")
        return JSONResponse({"order": state.orders[order["id"]], "webhook_status": status}, status_code=201)

    async def redeliver(request: Request) -> JSONResponse:
        order_id, event = request.path_params["id"], request.query_params.get("event", "created")
        try:
            status = await state.deliver(order_id, event)
        except UnknownOrder:
            return _refuse(404, "NOT_FOUND", f"no order {order_id!r} in this sandbox")
        except BadControlRequest as bad:
            return _refuse(400, "INVALID_EVENT", str(bad))
        except NoWebhookTarget as missing:
            return _refuse(409, "NO_WEBHOOK_TARGET", str(missing))
        except httpx.HTTPError as exc:
            return _refuse(
                502, "WEBHOOK_UNREACHABLE", f"the webhook target could not be reached ({type(exc).__name__})"
            )
        return JSONResponse({"order_id": order_id, "event": event, "webhook_status": status})

    async def webhooks(request: Request) -> JSONResponse:
        return JSONResponse([delivery.to_json() for delivery in state.deliveries])

    return [
        Route(f"{CONTROL_PREFIX}orders", create, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}orders/{{id}}/deliver", redeliver, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}webhooks", webhooks, methods=["GET"]),
    ]
