"""Signed webhook intake through the app: POST /webhooks/{connection_id} for every provider.

Signatures are computed here from webhook_formats.md, independently of the service's code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import Services, build_services, create_app
from providers.models import AssessmentOrder, OrderRef, OrderStatus
from providers.protocol import AssessmentProvider
from providers.stackone.client import StackOneProvider
from resolvers.context import AppContext
from resolvers.intake import fill_pending_details, settle_background
from sandbox import Sandboxes
from server.poller import Poller
from server.settings import sandbox_settings
from store.interface import OrderFilter
from tests.conftest import FIXED_NOW, GraphQLClient

KOMBO, STACKONE, UNIFIED = "sandbox-kombo", "sandbox-stackone", "sandbox-unified-to"
PROVIDERS = (KOMBO, STACKONE, UNIFIED)
LIST = """
query($filter: AssessmentOrderFilter) {
  assessmentOrders(filter: $filter, first: 50) {
    totalCount
    edges { node { providerOrderId provider status package { id } candidate { name emails } job { title } } }
  }
}
"""


class Gateway:
    """The app under test, its services and signed posts in each provider's wire format."""

    def __init__(self, services: Services, http: httpx.AsyncClient) -> None:
        self.services = services
        self.http = http
        self.gql = GraphQLClient(http)

    def secret(self, connection_id: str) -> str:
        secret = self.services.context.connections[connection_id].webhook_secret
        assert secret
        return secret

    async def post(self, connection_id: str, raw: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        headers = {"content-type": "application/json", **(headers or {})}
        return await self.http.post(f"/webhooks/{connection_id}", content=raw, headers=headers)

    async def send(self, connection_id: str, body: dict[str, Any], secret: str | None = None) -> httpx.Response:
        """Post `body` signed the way the connection's provider signs (Unified.to: `data`/`nonce` only)."""
        secret = secret or self.secret(connection_id)
        if connection_id == UNIFIED:
            return await self.post(connection_id, json.dumps(unified_signed(body, secret)).encode())
        raw = json.dumps(body).encode()
        digest = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
        value = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        header = "X-Kombo-Signature" if connection_id == KOMBO else "x-stackone-signature"
        return await self.post(connection_id, raw, {header: value})

    async def stored(self, connection_id: str) -> list[AssessmentOrder]:
        page = await self.services.store.list_orders(OrderFilter(connection_ids=(connection_id,)), first=100)
        return page.orders

    async def order(self, connection_id: str, order_id: str) -> AssessmentOrder:
        ref = OrderRef(connection_id, order_id)
        return (await self.services.store.get_orders([ref]))[ref]

    async def listed(self, connection_id: str) -> list[dict[str, Any]]:
        body = await self.gql(LIST, {"filter": {"connectionIds": [connection_id]}})
        return [edge["node"] for edge in body["data"]["assessmentOrders"]["edges"]]


def unified_signed(body: dict[str, Any], secret: str) -> dict[str, Any]:
    nonce = body.get("nonce", "nonce-1")
    message = (json.dumps(body["data"], separators=(",", ":"), ensure_ascii=False) + nonce).encode()
    sig = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha1).digest()).decode()
    return {**body, "nonce": nonce, "sig": sig}


MakeGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(tmp_path: Path, sandboxes: Sandboxes) -> AsyncIterator[MakeGateway]:
    """Builds the app around the sandboxes; `changes` updates connections by id (e.g. package_ids)."""
    opened: list[tuple[Services, httpx.AsyncClient]] = []

    async def make(changes: dict[str, dict[str, Any]] | None = None) -> Gateway:
        settings = sandbox_settings(f"sqlite+aiosqlite:///{tmp_path / f'gateway{len(opened)}.db'}")
        connections = tuple(c.model_copy(update=(changes or {}).get(c.id, {})) for c in settings.connections)
        services = await build_services(settings.model_copy(update={"connections": connections}),
                                        sandboxes=sandboxes, seed=False)  # fmt: skip
        services.context.clock = lambda: FIXED_NOW
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://gw.test")
        opened.append((services, http))
        return Gateway(services, http)

    yield make
    for services, http in opened:
        await settle_background(services.context, cancel=True)
        await http.aclose()
        await services.aclose()


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway()


# --------------------------------------------------------------------------- events in each provider's shape


def kombo_event(order_id: str = "GRKdd9dibYKKCrmGRSMJf3wu", event_id: str = "evt-k-1", **data: Any) -> dict[str, Any]:
    order = {"id": order_id, "package_id": "typescript-senior", "status": "OPEN",
             "integration_id": "greenhouse:sandbox1",
             "candidate": {"remote_id": "c-1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
             "application": {"remote_id": "a-1"}, "job": {"remote_id": "j-1", "name": "Frontend Engineer"}}  # fmt: skip
    return {"id": event_id, "type": "assessment:order-received", "data": {**order, **data}}


def stackone_event(
    order_id: str = "so-order-1", event_id: str = "evt-s-1", event: str = "created", **data: Any
) -> dict[str, Any]:
    order = {"id": order_id, "package": {"id": "typescript-senior", "name": "TypeScript"},
             "candidate": {"id": "cand-1", "first_name": "Grace", "last_name": "Hopper",
                           "emails": [{"type": "work", "value": "grace@example.com"}]},
             "application": {"id": "app-1"}, "job": {"id": "job-1", "title": "Data Analyst"}}  # fmt: skip
    return {"id": event_id, "event": f"ats_assessments.{event}", "account_id": "sandbox-account-1",
            "record_id": order_id, "event_date": "2026-11-02T09:00:00.000Z", "provider": "greenhouse",
            "event_data": {**order, **data}}  # fmt: skip


def unified_event(
    order_id: str = "un-order-1", event: str = "created", nonce: str = "n-1", **data: Any
) -> dict[str, Any]:
    order = {"id": order_id, "connection_id": "66a1f0c2b7e4a9d3c1f0e8a1", "workspace_id": "66a1f0c2b7e4a9d3c1f0e8a0",
             "package_id": "typescript-senior", "status": "OPEN", "candidate_id": "cand-1", "job_id": "job-1",
             "profile_name": "Alan Turing", "profile_emails": ["alan@example.com"],
             "created_at": "2026-11-01T08:00:00Z", "updated_at": "2026-11-01T08:00:00Z"}  # fmt: skip
    webhook = {"id": "wh-1", "object_type": "assessment_order", "event": event,
               "connection_id": "66a1f0c2b7e4a9d3c1f0e8a1"}  # fmt: skip
    return {"data": [{**order, **data}], "webhook": webhook, "nonce": nonce}


EVENTS: dict[str, Callable[..., dict[str, Any]]] = {
    KOMBO: kombo_event,
    STACKONE: stackone_event,
    UNIFIED: unified_event,
}
ORDER_IDS = {KOMBO: "GRKdd9dibYKKCrmGRSMJf3wu", STACKONE: "so-order-1", UNIFIED: "un-order-1"}
EMAILS = {KOMBO: "ada@example.com", STACKONE: "grace@example.com", UNIFIED: "alan@example.com"}


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("_case", PROVIDERS)
async def test_a_signed_order_is_recorded_and_listed(_case: str, gateway: Gateway) -> None:
    # given a signed order event in the provider's own shape
    # when it is posted to the connection's webhook
    response = await gateway.send(_case, EVENTS[_case]())
    # then it is accepted, its event is kept, and GraphQL lists the order
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "orders": 1, "duplicate": False}
    events = await gateway.services.store.list_events(_case)
    assert [e.order_ids for e in events] == [(ORDER_IDS[_case],)]
    assert events[0].received_at == FIXED_NOW
    (node,) = await gateway.listed(_case)
    assert (node["providerOrderId"], node["status"]) == (ORDER_IDS[_case], "OPEN")
    assert node["candidate"]["emails"] == [EMAILS[_case]]
    assert node["package"] == {"id": "typescript-senior"}


async def test_kombo_inline_assessment_is_recorded_with_a_plain_ok(gateway: Gateway) -> None:
    response = await gateway.send(KOMBO, {**kombo_event(), "type": "inline-assessment:order-received"})
    assert (response.status_code, response.json()["status"]) == (200, "ok")
    assert [e.event_type for e in await gateway.services.store.list_events(KOMBO)] == [
        "inline-assessment:order-received"
    ]


async def test_unified_delivers_several_orders_at_once(gateway: Gateway) -> None:
    body = unified_event()
    body["data"].append({**body["data"][0], "id": "un-order-2", "profile_emails": ["b@example.com"]})
    response = await gateway.send(UNIFIED, body)
    assert response.json() == {"status": "ok", "orders": 2, "duplicate": False}
    assert sorted(o.provider_order_id for o in await gateway.stored(UNIFIED)) == ["un-order-1", "un-order-2"]


# --------------------------------------------------------------------------- signatures


def _tampered(connection_id: str, gateway: Gateway) -> tuple[bytes, dict[str, str]]:
    """A correctly signed body with one byte of content changed afterwards."""
    body = EVENTS[connection_id]()
    if connection_id == UNIFIED:
        signed = unified_signed(body, gateway.secret(UNIFIED))
        signed["data"][0]["status"] = "COMPLETED"
        return json.dumps(signed).encode(), {}
    raw = json.dumps(body).encode()
    digest = hmac.new(gateway.secret(connection_id).encode(), raw, hashlib.sha256).digest()
    header = "x-kombo-signature" if connection_id == KOMBO else "x-stackone-signature"
    return raw.replace(b"OPEN", b"DONE") if b"OPEN" in raw else raw + b" ", {
        header: base64.urlsafe_b64encode(digest).decode().rstrip("=")
    }


@pytest.mark.parametrize("_case", PROVIDERS)
async def test_bad_missing_or_foreign_signatures_are_refused_and_nothing_is_stored(
    _case: str, gateway: Gateway
) -> None:
    body = EVENTS[_case]()
    unsigned = json.dumps(body).encode()
    tampered, tampered_headers = _tampered(_case, gateway)
    answers = [
        await gateway.post(_case, unsigned),  # missing
        await gateway.send(_case, body, secret="not-the-secret"),  # wrong secret
        await gateway.post(_case, tampered, tampered_headers),  # body changed after signing
        await gateway.post(_case, unsigned, {"x-kombo-signature": "abc", "x-stackone-signature": "abc"}),  # garbage
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.json() == {"error": "BAD_SIGNATURE", "message": "Missing or invalid webhook signature."}
    assert await gateway.services.store.list_events(_case) == []
    assert await gateway.stored(_case) == []


async def test_a_connection_without_a_webhook_secret_accepts_nothing(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway({KOMBO: {"webhook_secret": None}})
    response = await gateway.send(KOMBO, kombo_event(), secret="anything")
    assert (response.status_code, response.json()["error"]) == (401, "BAD_SIGNATURE")
    assert await gateway.stored(KOMBO) == []


async def test_stackone_header_and_encoding_follow_the_connection(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway({STACKONE: {"webhook_signature_header": "X-Sig", "webhook_signature_encoding": "hex"}})
    raw = json.dumps(stackone_event()).encode()
    digest = hmac.new(gateway.secret(STACKONE).encode(), raw, hashlib.sha256).digest()
    assert (await gateway.post(STACKONE, raw, {"x-stackone-signature": digest.hex()})).status_code == 401
    assert (await gateway.post(STACKONE, raw, {"X-Sig": digest.hex()})).status_code == 200


# --------------------------------------------------------------------------- redelivery and updates


@pytest.mark.parametrize("_case", PROVIDERS)
async def test_a_redelivered_event_creates_nothing_new(_case: str, gateway: Gateway) -> None:
    first = await gateway.send(_case, EVENTS[_case]())
    again = await gateway.send(_case, EVENTS[_case]())
    assert first.json()["duplicate"] is False
    assert again.status_code == 200
    assert again.json() == {"status": "ok", "orders": 1, "duplicate": True}
    assert len(await gateway.services.store.list_events(_case)) == 1
    assert len(await gateway.stored(_case)) == 1


async def test_the_same_kombo_order_twice_with_different_content_the_later_wins(gateway: Gateway) -> None:
    await gateway.send(KOMBO, kombo_event(event_id="evt-1"))
    changed = kombo_event(event_id="evt-2", candidate={"remote_id": "c-1", "email": "ada@new.example.com"})
    assert (await gateway.send(KOMBO, changed)).json()["duplicate"] is False
    (order,) = await gateway.stored(KOMBO)
    assert order.candidate.emails == ("ada@new.example.com",)
    assert [e.event_key for e in await gateway.services.store.list_events(KOMBO)] == ["evt-1", "evt-2"]


@pytest.mark.parametrize("_case", [STACKONE, UNIFIED])
async def test_an_updated_event_upserts_the_order(_case: str, gateway: Gateway) -> None:
    await gateway.send(_case, EVENTS[_case]())
    if _case == STACKONE:
        updated = stackone_event(event_id="evt-s-2", event="updated", job={"id": "job-1", "title": "Lead Analyst"})
    else:
        updated = unified_event(event="updated", nonce="n-2", status="COMPLETED", updated_at="2026-11-02T08:00:00Z")
    assert (await gateway.send(_case, updated)).json() == {"status": "ok", "orders": 1, "duplicate": False}
    (order,) = await gateway.stored(_case)
    if _case == STACKONE:
        assert order.job is not None and order.job.title == "Lead Analyst"
    else:
        assert order.status is OrderStatus.COMPLETED
    events = await gateway.services.store.list_events(_case)
    assert len(events) == 2 and events[-1].event_type.endswith("updated")


async def test_a_stackone_update_keeps_the_status_the_results_gave(gateway: Gateway) -> None:
    # given a StackOne order already COMPLETED on record (StackOne events carry no status)
    await gateway.send(STACKONE, stackone_event())
    stored = await gateway.order(STACKONE, "so-order-1")
    await gateway.services.store.upsert_order(
        stored.model_copy(update={"status": OrderStatus.COMPLETED, "provider_status": "passed"})
    )
    # when an update arrives
    await gateway.send(STACKONE, stackone_event(event_id="evt-s-2", event="updated"))
    # then the status stays
    order = await gateway.order(STACKONE, "so-order-1")
    assert (order.status, order.provider_status) == (OrderStatus.COMPLETED, "passed")


# --------------------------------------------------------------------------- bad requests


async def test_an_unknown_connection_is_not_found(gateway: Gateway) -> None:
    response = await gateway.post("no-such-connection", b"{}", {"x-kombo-signature": "x"})
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


async def test_a_body_over_one_mebibyte_is_refused(gateway: Gateway) -> None:
    big = kombo_event(padding="x" * (1024 * 1024))
    response = await gateway.send(KOMBO, big)
    assert (response.status_code, response.json()["error"]) == (413, "PAYLOAD_TOO_LARGE")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(20):
            yield b" " * 65536

    streamed = await gateway.http.post(
        f"/webhooks/{KOMBO}", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert await gateway.stored(KOMBO) == []


@pytest.mark.parametrize(
    ("_case", "content_type"), [("text", "text/plain"), ("form", "application/x-www-form-urlencoded"), ("none", "")]
)
async def test_a_body_that_is_not_json_by_content_type_is_refused(
    _case: str, content_type: str, gateway: Gateway
) -> None:
    raw = json.dumps(kombo_event()).encode()
    response = await gateway.http.post(f"/webhooks/{KOMBO}", content=raw, headers={"content-type": content_type})
    assert (response.status_code, response.json()["error"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


async def test_json_with_a_charset_parameter_is_accepted(gateway: Gateway) -> None:
    raw = json.dumps(kombo_event()).encode()
    digest = hmac.new(gateway.secret(KOMBO).encode(), raw, hashlib.sha256).digest()
    headers = {"content-type": "application/json; charset=utf-8",
               "x-kombo-signature": base64.urlsafe_b64encode(digest).decode().rstrip("=")}  # fmt: skip
    assert (await gateway.http.post(f"/webhooks/{KOMBO}", content=raw, headers=headers)).status_code == 200


def _signed_raw(gateway: Gateway, connection_id: str, raw: bytes) -> dict[str, str]:
    digest = hmac.new(gateway.secret(connection_id).encode(), raw, hashlib.sha256).digest()
    header = "x-kombo-signature" if connection_id == KOMBO else "x-stackone-signature"
    return {header: base64.urlsafe_b64encode(digest).decode().rstrip("=")}


@pytest.mark.parametrize(
    ("_case", "connection_id", "raw"),
    [
        ("kombo_not_json", KOMBO, b'{"id": "evt", "type": '),
        ("kombo_not_utf8", KOMBO, b'{"id": "\xff"}'),
        ("kombo_array", KOMBO, b"[]"),
        ("stackone_not_json", STACKONE, b"nope"),
        ("unified_not_json", UNIFIED, b"{nope"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_malformed(
    _case: str, connection_id: str, raw: bytes, gateway: Gateway
) -> None:
    response = await gateway.post(connection_id, raw, _signed_raw(gateway, connection_id, raw))
    assert response.status_code == 400
    assert response.json()["error"] == "MALFORMED_BODY"
    assert await gateway.services.store.list_events(connection_id) == []


@pytest.mark.parametrize(
    ("_case", "connection_id", "body"),
    [
        ("kombo_no_data", KOMBO, {"id": "evt", "type": "assessment:order-received"}),
        ("kombo_unknown_type", KOMBO, {**kombo_event(), "type": "data-changed"}),
        ("kombo_order_without_id", KOMBO, kombo_event(id=None)),
        ("stackone_no_event_data", STACKONE, {**stackone_event(), "event_data": None}),
        ("stackone_candidate_not_object", STACKONE, stackone_event(candidate=["cand-1"])),
        ("unified_data_not_list", UNIFIED, {**unified_event(), "data": {"id": "x"}}),
        ("unified_wrong_object_type", UNIFIED, {**unified_event(), "webhook": {"object_type": "candidate", "event": "created"}}),
    ],
)  # fmt: skip
async def test_a_signed_body_of_the_wrong_shape_is_malformed_and_not_echoed(
    _case: str, connection_id: str, body: dict[str, Any], gateway: Gateway
) -> None:
    response = await gateway.send(connection_id, body)
    assert response.status_code == 400
    assert response.json()["error"] == "MALFORMED_BODY" and response.json()["message"]
    assert "example.com" not in response.text and "cand-1" not in response.text
    assert await gateway.services.store.list_events(connection_id) == []
    assert await gateway.stored(connection_id) == []


# --------------------------------------------------------------------------- package allow-list


async def test_kombo_refuses_an_unoffered_package_with_422_and_records_it_rejected(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway({KOMBO: {"package_ids": ("sql-fundamentals",)}})
    response = await gateway.send(KOMBO, kombo_event())
    assert response.status_code == 422
    assert response.json() == {"error": "ORDER_REJECTED", "message": "Package typescript-senior is not offered"}
    order = await gateway.order(KOMBO, ORDER_IDS[KOMBO])
    assert order.status is OrderStatus.REJECTED
    assert len(await gateway.services.store.list_events(KOMBO)) == 1
    # a redelivery gets the same refusal and records nothing new
    assert (await gateway.send(KOMBO, kombo_event())).status_code == 422
    assert len(await gateway.services.store.list_events(KOMBO)) == 1
    # an offered package is accepted
    offered = kombo_event("B5KQKhAgTv6ZwzrfAbqbhipd", "evt-k-2", package_id="sql-fundamentals")
    assert (await gateway.send(KOMBO, offered)).status_code == 200
    assert (await gateway.order(KOMBO, "B5KQKhAgTv6ZwzrfAbqbhipd")).status is OrderStatus.OPEN


@pytest.mark.parametrize("_case", [STACKONE, UNIFIED])
async def test_providers_without_a_refusal_protocol_get_200_and_the_order_is_rejected(
    _case: str, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway({_case: {"package_ids": ("sql-fundamentals",)}})
    response = await gateway.send(_case, EVENTS[_case]())
    assert response.json() == {"status": "ok", "orders": 1, "duplicate": False}
    (node,) = await gateway.listed(_case)
    assert node["status"] == "REJECTED"
    assert len(await gateway.services.store.list_events(_case)) == 1


# --------------------------------------------------------------------------- StackOne ids-only events


def _ids_only_event(order: dict[str, Any], event_id: str = "evt-ids-1") -> dict[str, Any]:
    ids = {"id": order["id"], **{k: {"id": order[k]["id"]} for k in ("package", "candidate", "application", "job")}}
    return stackone_event(order["id"], event_id) | {"event_data": ids}


async def test_an_ids_only_stackone_order_is_answered_at_once_and_filled_from_the_ats(
    gateway: Gateway, sandboxes: Sandboxes
) -> None:
    # given an order the StackOne sandbox knows, delivered with ids only
    order = sandboxes.stackone.create_order(
        {"first_name": "Edsger", "last_name": "Dijkstra", "email": "ed@example.com"}
    )
    response = await gateway.send(STACKONE, _ids_only_event(order))
    assert response.json() == {"status": "ok", "orders": 1, "duplicate": False}
    # when the background fetch has run
    await settle_background(gateway.services.context)
    # then the order carries the candidate, application and job from StackOne's ATS endpoints
    stored = await gateway.order(STACKONE, order["id"])
    assert "_details_pending" not in stored.raw
    assert stored.candidate.emails == ("ed@example.com",)
    assert (stored.candidate.first_name, stored.candidate.last_name) == ("Edsger", "Dijkstra")
    assert stored.job is not None and stored.job.title
    reads = [r.path for r in sandboxes.stackone.received if r.method == "GET"]
    assert sorted(p.split("/")[-2] for p in reads) == ["applications", "candidates", "jobs"]
    (node,) = await gateway.listed(STACKONE)
    assert node["candidate"]["emails"] == ["ed@example.com"]


def _unavailable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"statusCode": 503, "message": "down", "timestamp": "2026-11-02T09:30:00Z"})


def _stackone_down(ctx: AppContext) -> tuple[AssessmentProvider, httpx.AsyncClient]:
    """Swap the StackOne adapter for one whose every call gets a 503; the working adapter and the broken client."""
    working, connection = ctx.adapters[STACKONE], ctx.connections[STACKONE]
    broken = httpx.AsyncClient(transport=httpx.MockTransport(_unavailable), base_url=connection.base_url)
    ctx.adapters = {**ctx.adapters, STACKONE: StackOneProvider(connection, broken)}
    return working, broken


async def test_a_failing_detail_fetch_keeps_the_order_and_fill_pending_details_finishes_it(
    gateway: Gateway, sandboxes: Sandboxes
) -> None:
    ctx = gateway.services.context
    working, broken = _stackone_down(ctx)
    order = sandboxes.stackone.create_order({"email": "later@example.com"})
    # given StackOne's ATS is down while an ids-only event arrives
    assert (await gateway.send(STACKONE, _ids_only_event(order))).status_code == 200
    await settle_background(ctx)
    # then the order is kept with what arrived, marked incomplete
    pending = await gateway.order(STACKONE, order["id"])
    assert pending.raw["_details_pending"] is True and pending.candidate.emails == ()
    assert [n["providerOrderId"] for n in await gateway.listed(STACKONE)] == [order["id"]]
    assert await fill_pending_details(ctx) == 0  # still down: nothing filled, still marked
    assert (await gateway.order(STACKONE, order["id"])).raw["_details_pending"] is True
    # when StackOne is back, the poller's pass fills it
    ctx.adapters = {**ctx.adapters, STACKONE: working}
    assert await fill_pending_details(ctx) == 1
    filled = await gateway.order(STACKONE, order["id"])
    assert "_details_pending" not in filled.raw and filled.candidate.emails == ("later@example.com",)
    assert await fill_pending_details(ctx) == 0
    await broken.aclose()


async def test_the_poller_fills_pending_stackone_orders_on_its_own(gateway: Gateway, sandboxes: Sandboxes) -> None:
    ctx = gateway.services.context
    working, broken = _stackone_down(ctx)
    order = sandboxes.stackone.create_order({"email": "poller@example.com"})
    # given an ids-only order whose details could not be fetched when it arrived
    assert (await gateway.send(STACKONE, _ids_only_event(order))).status_code == 200
    await settle_background(ctx)
    assert (await gateway.order(STACKONE, order["id"])).raw["_details_pending"] is True
    # when StackOne is back and the poller runs (Kombo's sync off: the details loop is its own)
    ctx.adapters = {**ctx.adapters, STACKONE: working}
    ctx.connections = {k: c.model_copy(update={"sync_interval_seconds": 0}) for k, c in ctx.connections.items()}
    poller = Poller(ctx, details_interval=0.01)
    await poller.start()
    try:
        async with asyncio.timeout(5):
            while poller.detail_passes < 1:
                await asyncio.sleep(0.01)
    finally:
        await poller.stop()
    # then the order was filled without any Kombo cycle
    assert poller.cycles == {}
    filled = await gateway.order(STACKONE, order["id"])
    assert "_details_pending" not in filled.raw and filled.candidate.emails == ("poller@example.com",)
    await broken.aclose()


# --------------------------------------------------------------------------- the sandbox senders


@pytest.mark.parametrize("_case", PROVIDERS)
async def test_the_sandbox_senders_deliver_orders_the_service_accepts(
    _case: str, gateway: Gateway, sandboxes: Sandboxes
) -> None:
    from sandbox._webhooks import WebhookTarget

    box = {KOMBO: sandboxes.kombo, STACKONE: sandboxes.stackone, UNIFIED: sandboxes.unified_to}[_case]
    box.webhook_target = WebhookTarget(gateway.http, f"http://gw.test/webhooks/{_case}")
    order_id = next(iter(box.orders))
    assert await box.deliver(order_id) == 200
    await settle_background(gateway.services.context)
    assert [o.provider_order_id for o in await gateway.stored(_case)] == [order_id]


# --------------------------------------------------------------------------- trust: garbage, replays, tenants

GARBAGE = {
    "brackets": b"[" * 100_000,
    "objects": b'{"a":' * 50_000,
    "nan": b'{"data": [NaN], "nonce": "n", "sig": "s"}',
    "huge_number": b'{"data": [1e400], "nonce": "n", "sig": "s"}',
    "lone_surrogate": b'{"data": ["\\ud800"], "nonce": "n", "sig": "s"}',
    "binary": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("_provider", PROVIDERS)
@pytest.mark.parametrize("_case", sorted(GARBAGE))
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
async def test_garbage_gets_a_coded_4xx_in_one_log_line(
    _provider: str, _case: str, signed: bool, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    # given garbage, unsigned or (Kombo, StackOne: the raw body is signed) validly signed
    raw = GARBAGE[_case]
    headers = _signed_raw(gateway, _provider, raw) if signed else {}
    # when it is posted
    with caplog.at_level(logging.DEBUG):
        response = await gateway.post(_provider, raw, headers)
    # then a coded 4xx JSON answer, one log line without a traceback, nothing stored
    assert 400 <= response.status_code < 500
    assert response.json()["error"] in {"BAD_SIGNATURE", "MALFORMED_BODY"}
    assert [r for r in caplog.records if r.exc_info] == []
    assert len([r for r in caplog.records if r.name.startswith("gateway") and r.name != "gateway.access"]) == 1
    assert await gateway.services.store.list_events(_provider) == []


@pytest.mark.parametrize("_provider", PROVIDERS)
async def test_a_redelivery_is_known_by_what_is_signed_not_by_its_bytes(_provider: str, gateway: Gateway) -> None:
    # given a delivery received once
    body = EVENTS[_provider]()
    if _provider == STACKONE:
        del body["id"]  # no event id: the signed content itself is the key
    assert (await gateway.send(_provider, body)).json()["duplicate"] is False
    # when the same signed content comes again, serialised otherwise (and, for Unified.to, with
    # another unsigned webhook part)
    if _provider == UNIFIED:
        again = unified_signed(body, gateway.secret(UNIFIED))
        again["webhook"] = {**again["webhook"], "event": "updated", "id": "wh-other"}
        response = await gateway.post(UNIFIED, json.dumps(again, indent=2).encode())
    else:
        raw = json.dumps(dict(reversed(body.items())), indent=1).encode()
        response = await gateway.post(_provider, raw, _signed_raw(gateway, _provider, raw))
    # then it is a redelivery: nothing new is recorded
    assert response.json() == {"status": "ok", "orders": 1, "duplicate": True}
    assert len(await gateway.services.store.list_events(_provider)) == 1


async def test_an_older_event_never_rolls_an_order_back(gateway: Gateway) -> None:
    # given a Unified.to order COMPLETED at 10:00
    completed = unified_event(event="updated", nonce="n-2", status="COMPLETED", updated_at="2026-11-01T10:00:00Z")
    await gateway.send(UNIFIED, completed)
    # when an older OPEN version arrives (another nonce: a genuine, late delivery)
    older = unified_event(nonce="n-1", status="OPEN", updated_at="2026-11-01T08:00:00Z")
    assert (await gateway.send(UNIFIED, older)).status_code == 200
    # then the order stays COMPLETED with its 10:00 version
    order = await gateway.order(UNIFIED, "un-order-1")
    assert order.status is OrderStatus.COMPLETED
    assert order.updated_at is not None and order.updated_at.hour == 10


@pytest.mark.parametrize("_provider", [KOMBO, STACKONE])
async def test_an_event_without_a_version_never_moves_a_status_back(_provider: str, gateway: Gateway) -> None:
    # given an order COMPLETED on record by a result
    await gateway.send(_provider, EVENTS[_provider]())
    stored = await gateway.order(_provider, ORDER_IDS[_provider])
    await gateway.services.store.upsert_order(stored.model_copy(update={"status": OrderStatus.COMPLETED}))
    # when a new event for it (no time of its own) arrives
    later = EVENTS[_provider](event_id="evt-late")
    assert (await gateway.send(_provider, later)).json()["duplicate"] is False
    # then the status stays
    assert (await gateway.order(_provider, ORDER_IDS[_provider])).status is OrderStatus.COMPLETED


@pytest.mark.parametrize(
    ("_case", "connection_id", "body"),
    [
        ("kombo_other_integration", KOMBO, kombo_event(integration_id="workday:other")),
        ("stackone_other_account", STACKONE, {**stackone_event(), "account_id": "other-account"}),
        ("unified_signed_other_connection", UNIFIED, unified_event(connection_id="66a1f0c2b7e4a9d3c1f0e8ff")),
        ("unified_signed_other_workspace", UNIFIED, unified_event(workspace_id="66a1f0c2b7e4a9d3c1f0e8ff")),
    ],
)  # fmt: skip
async def test_a_signed_event_of_another_tenant_is_refused(
    _case: str, connection_id: str, body: dict[str, Any], gateway: Gateway
) -> None:
    # given a delivery signed with the shared secret but naming another tenant in its signed content
    # (Unified.to: even with the unsigned `webhook.connection_id` set to this connection's)
    response = await gateway.send(connection_id, body)
    assert (response.status_code, response.json()["error"]) == (403, "CONNECTION_MISMATCH")
    assert await gateway.services.store.list_events(connection_id) == []
    assert await gateway.stored(connection_id) == []


async def test_the_unsigned_webhook_part_does_not_name_the_tenant(gateway: Gateway) -> None:
    # given a delivery whose signed orders belong to this connection, with a forged unsigned part
    body = unified_event()
    body["webhook"] = {**body["webhook"], "connection_id": "someone-else"}
    # then it is accepted: the tenant is the connection whose path and secret verified it
    assert (await gateway.send(UNIFIED, body)).json()["orders"] == 1
    assert [o.provider_order_id for o in await gateway.stored(UNIFIED)] == ["un-order-1"]
