"""Sandbox webhook delivery: signed senders, the create/deliver control routes, StackOne ATS reads, deliver_all.

Every signature is recomputed here from webhook_formats.md, independently of sandbox/_webhooks.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import SANDBOX_CREDENTIALS, Sandboxes, WebhookTarget, create_sandbox_app, create_sandboxes, deliver_all
from tests.spec_check import response_problems

NOW = datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)
SECRETS = {name: creds["webhook_secret"] for name, creds in SANDBOX_CREDENTIALS.items()}
KOMBO_HEADERS = {"authorization": "Bearer sandbox-kombo-key", "x-integration-id": "greenhouse:sandbox1"}
SO_HEADERS = {
    "authorization": "Basic " + base64.b64encode(b"sandbox-stackone-key:").decode(),
    "x-account-id": "sandbox-account-1",
}
ID_FORMATS = {
    "kombo": re.compile(r"^[A-Za-z0-9]{24}$"),
    "stackone": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
    "unified_to": re.compile(r"^[0-9a-f]{24}$"),
}


@dataclass
class Received:
    connection_id: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """A tiny stand-in for the service's `/webhooks/{connection_id}`: records and answers `status`."""

    got: list[Received] = field(default_factory=list)
    status: int = 200

    def app(self) -> Starlette:
        async def webhook(request: Request) -> JSONResponse:
            raw = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.got.append(Received(request.path_params["connection_id"], headers, raw))
            return JSONResponse({"status": "ok"} if self.status == 200 else {"message": "no"}, self.status)

        return Starlette(routes=[Route("/webhooks/{connection_id}", webhook, methods=["POST"])])


@pytest.fixture
def boxes() -> Sandboxes:
    built = create_sandboxes()
    for box in (built.stackone, built.kombo, built.unified_to):
        box.clock = lambda: NOW
    return built


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def targeted(boxes: Sandboxes, receiver: Receiver) -> AsyncIterator[Sandboxes]:
    transport = httpx.ASGITransport(app=receiver.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        for name in ("stackone", "kombo", "unified_to"):
            getattr(boxes, name).webhook_target = WebhookTarget(client, f"http://gateway.test/webhooks/sandbox-{name}")
        yield boxes


@pytest.fixture
async def http(boxes: Sandboxes) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sandbox_app(boxes))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


def b64url_nopad(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def hmac256(secret: str, raw: bytes) -> bytes:
    return hmac.new(secret.encode(), raw, hashlib.sha256).digest()


def unified_sig(secret: str, body: dict[str, Any]) -> str:
    message = json.dumps(body["data"], separators=(",", ":"), ensure_ascii=False) + body["nonce"]
    return base64.b64encode(hmac.new(secret.encode(), message.encode("utf-8"), hashlib.sha1).digest()).decode()


# --------------------------------------------------------------------------- senders and signatures


async def test_kombo_sender_signs_the_order_received_event(targeted: Sandboxes, receiver: Receiver) -> None:
    order_id = next(iter(targeted.kombo.orders))
    assert await targeted.kombo.deliver(order_id) == 200
    [got] = receiver.got
    assert got.connection_id == "sandbox-kombo" and got.headers["content-type"] == "application/json"
    assert got.headers["x-kombo-signature"] == b64url_nopad(hmac256(SECRETS["kombo"], got.raw))
    assert "=" not in got.headers["x-kombo-signature"]
    body = got.body
    assert set(body) == {"id", "type", "data"} and ID_FORMATS["kombo"].match(body["id"])
    assert body["type"] == "assessment:order-received"
    assert body["data"] == {**targeted.kombo.orders[order_id], "integration_id": "greenhouse:sandbox1"}
    assert list(body["data"])[:2] == ["id", "integration_id"]


async def test_kombo_inline_event_and_wrong_secret_detectable(targeted: Sandboxes, receiver: Receiver) -> None:
    order_id = next(iter(targeted.kombo.orders))
    await targeted.kombo.deliver(order_id, "inline")
    [got] = receiver.got
    assert got.body["type"] == "inline-assessment:order-received"
    assert got.headers["x-kombo-signature"] != b64url_nopad(hmac256("another-secret", got.raw))


async def test_stackone_sender_sends_the_full_order(targeted: Sandboxes, receiver: Receiver) -> None:
    box = targeted.stackone
    order_id = next(oid for oid in box.orders if oid not in box.ids_only)
    assert await box.deliver(order_id, "updated") == 200
    [got] = receiver.got
    assert got.headers["x-stackone-signature"] == b64url_nopad(hmac256(SECRETS["stackone"], got.raw))
    body = got.body
    assert ID_FORMATS["stackone"].match(body["id"])
    assert {k: v for k, v in body.items() if k != "id"} == {
        "event": "ats_assessments.updated", "account_id": "sandbox-account-1", "record_id": order_id,
        "event_date": "2026-06-01T12:00:00.500Z", "provider": "greenhouse", "event_data": box.orders[order_id],
    }  # fmt: skip


async def test_stackone_ids_only_order_sends_only_ids(targeted: Sandboxes, receiver: Receiver) -> None:
    box = targeted.stackone
    [order_id] = box.ids_only  # the seed marks exactly one
    order = box.orders[order_id]
    await box.deliver(order_id)
    assert receiver.got[0].body["event_data"] == {
        "id": order_id, "package": {"id": order["package"]["id"]}, "candidate": {"id": order["candidate"]["id"]},
        "application": {"id": order["application"]["id"]}, "job": {"id": order["job"]["id"]},
    }  # fmt: skip
    assert receiver.got[0].body["event"] == "ats_assessments.created"


async def test_stackone_signature_header_and_encoding_are_configurable(targeted: Sandboxes, receiver: Receiver) -> None:
    box = targeted.stackone
    box.signature_header, box.signature_encoding = "X-Webhook-Signature", "hex"
    await box.deliver(next(iter(box.orders)))
    [got] = receiver.got
    assert "x-stackone-signature" not in got.headers
    assert got.headers["x-webhook-signature"] == hmac256(SECRETS["stackone"], got.raw).hex()


async def test_unified_sender_signs_data_plus_nonce(targeted: Sandboxes, receiver: Receiver) -> None:
    box = targeted.unified_to
    order_id = next(iter(box.orders))
    box.orders[order_id]["profile_first_name"] = "Zoë"  # non-ASCII: signed as UTF-8, not \\u escapes
    assert await box.deliver(order_id, "updated") == 200
    [got] = receiver.got
    body = got.body
    assert set(body) == {"data", "webhook", "nonce", "sig"} and "x-kombo-signature" not in got.headers
    assert body["data"] == [box.orders[order_id]]
    assert body["webhook"] == {"id": "66b2a0ffc4e5f60718290001", "object_type": "assessment_order",
                               "event": "updated", "connection_id": "66a1f0c2b7e4a9d3c1f0e8a1"}  # fmt: skip
    assert re.match(r"^[0-9a-f]{32}$", body["nonce"])
    assert body["sig"] == unified_sig(SECRETS["unified_to"], body)


async def test_unified_hex_encoding(targeted: Sandboxes, receiver: Receiver) -> None:
    box = targeted.unified_to
    box.signature_encoding = "hex"
    await box.deliver(next(iter(box.orders)))
    body = receiver.got[0].body
    message = (json.dumps(body["data"], separators=(",", ":"), ensure_ascii=False) + body["nonce"]).encode()
    assert body["sig"] == hmac.new(SECRETS["unified_to"].encode(), message, hashlib.sha1).hexdigest()


async def test_each_delivery_is_a_new_event(targeted: Sandboxes, receiver: Receiver) -> None:
    order_id = next(iter(targeted.kombo.orders))
    await targeted.kombo.deliver(order_id)
    await targeted.kombo.deliver(order_id)
    assert receiver.got[0].body["id"] != receiver.got[1].body["id"]
    assert [d.status for d in targeted.kombo.deliveries] == [200, 200]


# --------------------------------------------------------------------------- control routes


@pytest.mark.parametrize(
    ("_case", "overrides", "check"),
    [
        ("kombo", {"first_name": "Joan", "last_name": "Clarke", "email": "joan.clarke@example.com",
                   "package_id": "sql-fundamentals", "status": "OPEN", "job_title": "Cryptanalyst"},
         lambda o: (o["candidate"]["first_name"], o["candidate"]["email"], o["package_id"], o["status"],
                    o["job"]["name"]) == ("Joan", "joan.clarke@example.com", "sql-fundamentals", "OPEN",
                                         "Cryptanalyst")),
        ("stackone", {"first_name": "Joan", "email": "joan.clarke@example.com", "package_id": "sql-fundamentals"},
         lambda o: (o["candidate"]["first_name"], o["candidate"]["emails"], o["package"]["id"])
         == ("Joan", [{"type": "personal", "value": "joan.clarke@example.com"}], "sql-fundamentals")),
        ("unified_to", {"first_name": "Joan", "last_name": "Clarke", "email": "joan.clarke@example.com",
                        "status": "IN_PROGRESS", "order": {"reference": "REF-1"}},
         lambda o: (o["profile_name"], o["profile_emails"], o["status"], o["reference"])
         == ("Joan Clarke", ["joan.clarke@example.com"], "IN_PROGRESS", "REF-1")),
    ],
)  # fmt: skip
async def test_control_endpoint_creates_and_delivers(
    http: httpx.AsyncClient, targeted: Sandboxes, receiver: Receiver, _case: str, overrides: dict[str, Any], check: Any
) -> None:
    box = getattr(targeted, _case)
    before = len(box.orders)
    response = await http.post(f"/{_case}/_sandbox/orders", json=overrides)
    assert response.status_code == 201, response.text
    answer = response.json()
    order = answer["order"]
    assert answer["webhook_status"] == 200 and check(order)
    assert ID_FORMATS[_case].match(order["id"]) and order["id"] not in (await _seeded_ids(_case))
    assert len(box.orders) == before + 1 and box.orders[order["id"]] == order
    [got] = receiver.got
    assert got.connection_id == f"sandbox-{_case}"
    delivered = got.body
    sent_order = {"kombo": lambda: delivered["data"], "stackone": lambda: delivered["event_data"],
                  "unified_to": lambda: delivered["data"][0]}[_case]()  # fmt: skip
    assert sent_order["id"] == order["id"]
    listed = (await http.get(f"/{_case}/_sandbox/webhooks")).json()
    assert [(w["order_id"], w["status"]) for w in listed] == [(order["id"], 200)]


async def _seeded_ids(name: str) -> set[str]:
    return set(getattr(create_sandboxes(), name).orders)


async def test_control_endpoint_without_body_or_target(http: httpx.AsyncClient, boxes: Sandboxes) -> None:
    response = await http.post("/kombo/_sandbox/orders")
    assert response.status_code == 201
    assert response.json()["webhook_status"] is None and response.json()["order"]["status"] == "OPEN"
    assert boxes.kombo.deliveries == []


async def test_created_kombo_order_is_listed(http: httpx.AsyncClient, targeted: Sandboxes) -> None:
    created = (await http.post("/kombo/_sandbox/orders", json={"status": "OPEN"})).json()["order"]
    listed = await http.get("/kombo/v1/assessment/orders", headers=KOMBO_HEADERS,
                            params={"created_after": "2026-06-01T00:00:00.000Z", "statuses": "OPEN"})  # fmt: skip
    assert listed.status_code == 200
    assert listed.json()["data"]["results"] == [created]
    everything = (await http.get("/kombo/v1/assessment/orders", headers=KOMBO_HEADERS)).json()["data"]["results"]
    assert len(everything) == 7 and everything[-1]["id"] == created["id"]


async def test_receiver_refusal_is_reported(http: httpx.AsyncClient, targeted: Sandboxes, receiver: Receiver) -> None:
    receiver.status = 422
    response = await http.post("/kombo/_sandbox/orders", json={"package_id": "not-offered"})
    assert response.status_code == 201 and response.json()["webhook_status"] == 422
    assert targeted.kombo.deliveries[0].response == {"message": "no"}


@pytest.mark.parametrize(
    ("_case", "provider", "body", "fragment"),
    [
        ("not-an-object", "kombo", [1, 2], "JSON object"),
        ("unknown-key", "kombo", {"colour": "red"}, "unknown override 'colour'"),
        ("bad-status", "kombo", {"status": "DONE"}, "status must be one of"),
        ("non-string", "unified_to", {"email": 42}, "email must be a string"),
        ("unified-status", "unified_to", {"status": "CANCELLED"}, "status must be one of"),
        ("no-status-on-stackone", "stackone", {"status": "OPEN"}, "unknown override 'status'"),
        ("ids-only-bool", "stackone", {"ids_only": "yes"}, "ids_only must be a boolean"),
        ("order-object", "stackone", {"order": "x"}, "order must be an object"),
    ],
)
async def test_control_endpoint_refuses_bad_overrides(
    http: httpx.AsyncClient, boxes: Sandboxes, _case: str, provider: str, body: Any, fragment: str
) -> None:
    before = len(getattr(boxes, provider).orders)
    response = await http.post(f"/{provider}/_sandbox/orders", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_OVERRIDES" and fragment in response.json()["message"]
    assert len(getattr(boxes, provider).orders) == before


async def test_control_endpoint_refuses_invalid_json(http: httpx.AsyncClient) -> None:
    response = await http.post("/unified_to/_sandbox/orders", content=b"{nope")
    assert (response.status_code, response.json()["error"]) == (400, "MALFORMED_BODY")


async def test_redeliver_existing_order(http: httpx.AsyncClient, targeted: Sandboxes, receiver: Receiver) -> None:
    order_id = next(iter(targeted.stackone.orders))
    response = await http.post(f"/stackone/_sandbox/orders/{order_id}/deliver", params={"event": "updated"})
    assert response.json() == {"order_id": order_id, "event": "updated", "webhook_status": 200}
    assert receiver.got[0].body["event"] == "ats_assessments.updated"


@pytest.mark.parametrize(
    ("_case", "path", "status", "code"),
    [
        ("unknown-order", "/unified_to/_sandbox/orders/000000000000000000000000/deliver", 404, "NOT_FOUND"),
        ("unknown-event", "/unified_to/_sandbox/orders/66b2a1d3c4e5f60718293a01/deliver?event=deleted", 400,
         "INVALID_EVENT"),
        ("kombo-unknown-event", "/kombo/_sandbox/orders/Qm3XbV9tKp2LwZ7rNc4HdY8s/deliver?event=x", 400,
         "INVALID_EVENT"),
    ],
)  # fmt: skip
async def test_redeliver_refusals(
    http: httpx.AsyncClient, targeted: Sandboxes, receiver: Receiver, _case: str, path: str, status: int, code: str
) -> None:
    response = await http.post(path)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert receiver.got == []


async def test_redeliver_without_target(http: httpx.AsyncClient, boxes: Sandboxes) -> None:
    response = await http.post("/kombo/_sandbox/orders/Qm3XbV9tKp2LwZ7rNc4HdY8s/deliver")
    assert (response.status_code, response.json()["error"]) == (409, "NO_WEBHOOK_TARGET")


async def test_unreachable_target(http: httpx.AsyncClient, boxes: Sandboxes) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        boxes.kombo.webhook_target = WebhookTarget(client, "http://down.test/webhooks/k")
        created = await http.post("/kombo/_sandbox/orders")
        assert created.status_code == 201 and created.json()["webhook_status"] is None
        again = await http.post(f"/kombo/_sandbox/orders/{created.json()['order']['id']}/deliver")
        assert (again.status_code, again.json()["error"]) == (502, "WEBHOOK_UNREACHABLE")
    assert [d.status for d in boxes.kombo.deliveries] == [None, None]


async def test_reset_forgets_created_orders_and_deliveries(http: httpx.AsyncClient, targeted: Sandboxes) -> None:
    await http.post("/unified_to/_sandbox/orders")
    assert len(targeted.unified_to.orders) == 6 and len(targeted.unified_to.deliveries) == 1
    await http.post("/unified_to/_sandbox/reset")
    assert len(targeted.unified_to.orders) == 5 and targeted.unified_to.deliveries == []


# --------------------------------------------------------------------------- StackOne ATS reads


def _ats_path(kind: str, record_id: str) -> str:
    return f"/unified/ats/{kind}/{record_id}"


@pytest.mark.parametrize("_case", ["candidates", "applications", "jobs"])
async def test_stackone_ats_reads_fit_the_spec(http: httpx.AsyncClient, boxes: Sandboxes, _case: str) -> None:
    order = boxes.stackone.orders["5b1c3f0e-2a7d-4c8e-9f10-3d2e1a4b5c60"]
    record_id = order[_case.rstrip("s")]["id"]
    response = await http.get("/stackone" + _ats_path(_case, record_id), headers=SO_HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert response_problems("stackone", "GET", _ats_path(_case, record_id), 200, body) == []
    assert body["data"]["id"] == record_id and body["data"]["remote_id"] == order[_case.rstrip("s")]["remote_id"]
    assert boxes.stackone.received[-1].status == 200


async def test_stackone_candidate_content(http: httpx.AsyncClient, boxes: Sandboxes) -> None:
    response = await http.get("/stackone" + _ats_path("candidates", "cand-so-0001"), headers=SO_HEADERS)
    data = response.json()["data"]
    assert (data["first_name"], data["last_name"], data["name"]) == ("Ada", "Lovelace", "Ada Lovelace")
    assert data["emails"] == [{"type": "personal", "value": "ada.lovelace@example.com"}]
    assert data["phone_numbers"] == [{"type": "mobile", "phone": "+44 20 7946 0958"}]
    assert data["title"] == "Frontend Engineer" and data["application_ids"] == ["app-so-0001"]
    job = (await http.get("/stackone" + _ats_path("jobs", "job-so-0001"), headers=SO_HEADERS)).json()["data"]
    assert (job["title"], job["code"]) == ("Senior Frontend Engineer", "ENG-2026-014")
    app = (await http.get("/stackone" + _ats_path("applications", "app-so-0001"), headers=SO_HEADERS)).json()
    assert (app["data"]["candidate_id"], app["data"]["job_id"]) == ("cand-so-0001", "job-so-0001")


@pytest.mark.parametrize(
    ("_case", "headers", "path", "status"),
    [
        ("no-auth", {"x-account-id": "sandbox-account-1"}, _ats_path("candidates", "cand-so-0001"), 401),
        ("wrong-key", {**SO_HEADERS, "authorization": "Basic " + base64.b64encode(b"nope:").decode()},
         _ats_path("jobs", "job-so-0001"), 401),
        ("no-account", {"authorization": SO_HEADERS["authorization"]}, _ats_path("jobs", "job-so-0001"), 400),
        ("other-account", {**SO_HEADERS, "x-account-id": "acct-2"}, _ats_path("applications", "app-so-0001"), 403),
        ("unknown-candidate", SO_HEADERS, _ats_path("candidates", "cand-so-9999"), 404),
        ("unknown-job", SO_HEADERS, _ats_path("jobs", "cand-so-0001"), 404),
    ],
)  # fmt: skip
async def test_stackone_ats_refusals(
    http: httpx.AsyncClient, boxes: Sandboxes, _case: str, headers: dict[str, str], path: str, status: int
) -> None:
    response = await http.get("/stackone" + path, headers=headers)
    assert response.status_code == status
    assert set(response.json()) == {"statusCode", "message", "timestamp"} and response.json()["statusCode"] == status
    assert boxes.stackone.received[-1].status == status  # refused reads are recorded too


async def test_created_stackone_order_has_readable_ats_records(http: httpx.AsyncClient, boxes: Sandboxes) -> None:
    overrides = {"first_name": "Joan", "last_name": "Clarke", "phone": "+44 1908 640404", "ids_only": True}
    order = (await http.post("/stackone/_sandbox/orders", json=overrides)).json()["order"]
    assert order["id"] in boxes.stackone.ids_only
    candidate = (await http.get("/stackone" + _ats_path("candidates", order["candidate"]["id"]),
                                headers=SO_HEADERS)).json()["data"]  # fmt: skip
    assert (candidate["name"], candidate["phone_numbers"]) == (
        "Joan Clarke",
        [{"type": "mobile", "phone": "+44 1908 640404"}],
    )
    assert candidate["created_at"] == "2026-06-01T12:00:00.500Z"
    for kind in ("applications", "jobs"):
        got = await http.get("/stackone" + _ats_path(kind, order[kind.rstrip("s")]["id"]), headers=SO_HEADERS)
        assert got.status_code == 200


# --------------------------------------------------------------------------- deliver_all


async def test_deliver_all_sends_every_seeded_order(targeted: Sandboxes, receiver: Receiver) -> None:
    statuses = await deliver_all(targeted)
    assert statuses == {"stackone": [200] * 6, "kombo": [200] * 6, "unified_to": [200] * 5}
    by_connection: dict[str, set[str]] = {}
    for got in receiver.got:
        body = got.body
        order_id = body.get("record_id") or (body["data"][0]["id"] if "nonce" in body else body["data"]["id"])
        by_connection.setdefault(got.connection_id, set()).add(order_id)
    assert by_connection == {f"sandbox-{name}": set(getattr(targeted, name).orders)
                             for name in ("stackone", "kombo", "unified_to")}  # fmt: skip


async def test_deliver_all_repeats_seed_events_byte_for_byte(boxes: Sandboxes) -> None:
    first, second = Receiver(), Receiver()
    for rec in (first, second):
        fresh = create_sandboxes()
        for box in (fresh.stackone, fresh.kombo, fresh.unified_to):
            box.clock = lambda: NOW
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rec.app()), base_url="http://g") as client:
            fresh.kombo.webhook_target = WebhookTarget(client, "http://g/webhooks/k")
            fresh.unified_to.webhook_target = WebhookTarget(client, "http://g/webhooks/u")
            fresh.stackone.webhook_target = WebhookTarget(client, "http://g/webhooks/s")
            await deliver_all(fresh)
    assert len(first.got) == 17 and [g.raw for g in first.got] == [g.raw for g in second.got]


async def test_deliver_all_skips_sandboxes_without_target(boxes: Sandboxes, receiver: Receiver) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()), base_url="http://g") as client:
        boxes.kombo.webhook_target = WebhookTarget(client, "http://g/webhooks/sandbox-kombo")
        assert await deliver_all(boxes) == {"stackone": [], "kombo": [200] * 6, "unified_to": []}
    assert {got.connection_id for got in receiver.got} == {"sandbox-kombo"}
