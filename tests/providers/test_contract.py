"""One suite over every provider: the same behaviour through each adapter.

Happy paths run against the sandbox servers; faults are injected with httpx.MockTransport.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from providers.errors import (
    OrderNotFoundError,
    ProviderBadResponseError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from providers.kombo.mapping import order_from_kombo
from providers.models import AssessmentOrder, OrderStatus, ProviderName, ResultUpdate
from providers.protocol import AssessmentProvider
from providers.registry import build_provider, http_client
from providers.stackone.mapping import order_from_stackone
from providers.unified_to.mapping import order_from_unified_to
from sandbox import Sandboxes, create_sandbox_app, create_sandboxes
from server.settings import sandbox_settings

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
RESULT = ResultUpdate(
    status=OrderStatus.COMPLETED, result_url="https://vendor.example/r/1", completed_at=NOW
)
Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Subject:
    name: ProviderName
    sandboxes: Sandboxes
    order: AssessmentOrder

    def adapter(self, transport: httpx.AsyncBaseTransport | None = None) -> AssessmentProvider:
        connection = next(c for c in sandbox_settings().connections if c.provider is self.name)
        transport = transport or httpx.ASGITransport(app=create_sandbox_app(self.sandboxes))
        return build_provider(connection, http_client(connection, transport))

    def received(self) -> list[object]:
        box = {ProviderName.STACKONE: self.sandboxes.stackone, ProviderName.KOMBO: self.sandboxes.kombo,
               ProviderName.UNIFIED_TO: self.sandboxes.unified_to}[self.name]  # fmt: skip
        return [r for r in box.received if r.method in ("PUT", "PATCH")]


def open_order(name: ProviderName, boxes: Sandboxes) -> AssessmentOrder:
    connection = next(c for c in sandbox_settings().connections if c.provider is name)
    if name is ProviderName.STACKONE:
        orders = [order_from_stackone(connection.id, raw, boxes.stackone.results.get(key))
                  for key, raw in boxes.stackone.orders.items()]  # fmt: skip
    elif name is ProviderName.KOMBO:
        orders = [order_from_kombo(connection.id, raw) for raw in boxes.kombo.orders.values()]
    else:
        orders = [order_from_unified_to(connection.id, raw) for raw in boxes.unified_to.orders.values()]
    return next(o for o in orders if o.status is OrderStatus.OPEN)


@pytest.fixture(params=list(ProviderName), ids=str)
def subject(request: pytest.FixtureRequest) -> Subject:
    boxes = create_sandboxes()
    return Subject(request.param, boxes, open_order(request.param, boxes))


def answer(status: int, content: bytes, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, content=content, headers=headers or {})


async def test_result_is_written(subject: Subject) -> None:
    adapter = subject.adapter()
    prepared = adapter.prepare_result(subject.order, RESULT, None, NOW)
    outcome = await adapter.send_result(subject.order, prepared)
    assert outcome.status_code == 200
    writes = subject.received()
    assert len(writes) == 1 and writes[0].status == 200  # type: ignore[attr-defined]
    assert writes[0].body == prepared.body  # type: ignore[attr-defined]


async def test_unknown_order_raises_not_found(subject: Subject) -> None:
    adapter = subject.adapter()
    ghost = subject.order.model_copy(update={"provider_order_id": "does-not-exist"})
    prepared = adapter.prepare_result(ghost, RESULT, None, NOW)
    with pytest.raises(OrderNotFoundError):
        await adapter.send_result(ghost, prepared)


@pytest.mark.parametrize(
    ("_case", "handler", "error"),
    [
        ("503", answer(503, b"unavailable"), ProviderUnavailableError),
        ("500 json", answer(500, json.dumps({"message": "boom"}).encode()), ProviderUnavailableError),
        ("timeout", lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)), ProviderUnavailableError),
        ("refused", lambda r: (_ for _ in ()).throw(httpx.ConnectError("no", request=r)), ProviderUnavailableError),
        ("429", answer(429, b"{}", {"retry-after": "12"}), ProviderRateLimitedError),
        ("not json", answer(200, b"<html>"), ProviderBadResponseError),
        ("wrong shape", answer(200, b"[1, 2]"), ProviderBadResponseError),
    ],
)  # fmt: skip
async def test_faults_map_to_domain_errors(
    subject: Subject, _case: str, handler: Handler, error: type[Exception]
) -> None:
    adapter = subject.adapter(httpx.MockTransport(handler))
    prepared = adapter.prepare_result(subject.order, RESULT, None, NOW)
    with pytest.raises(error) as caught:
        await adapter.send_result(subject.order, prepared)
    if error is ProviderRateLimitedError:
        assert caught.value.retry_after == 12  # type: ignore[attr-defined]
    assert caught.value.provider is subject.name  # type: ignore[attr-defined]
