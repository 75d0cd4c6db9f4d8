"""The judge of a scenario's outcome finds what it must: an order not ending on its newest result, an
older result applied after a newer one, a repeat the service did not count, a FAILED result."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace
from typing import Any

from providers.models import Delivery, DeliveryState
from tests.faults.provider import Record, Visit
from tests.faults.report import judge

ORDERS = [("g1", "p1"), ("g2", "p2")]


def row(seq: int, order: str, summary: str, state: DeliveryState, sends: int) -> Any:
    delivery = Delivery(state=state, attempts=max(1, sends), sends=sends)
    return SimpleNamespace(seq=seq, id=f"r{seq}", order_id=order, delivery=delivery.model_dump_json(),
                           prepared=json.dumps({"body": {"summary": summary}}), request_body="{}")  # fmt: skip


def record(applied: list[tuple[str, str]]) -> Record:
    kept = Record()
    for order, summary in applied:
        kept.visits.append(Visit(order, summary, 0.0, 0.0, 200, True))
        kept.applications[order].append(summary)
        kept.current[order] = summary
    return kept


def test_a_clean_run_has_no_problems() -> None:
    rows = [row(1, "g1", "o1-r1", DeliveryState.SUPERSEDED, 0), row(2, "g1", "o1-r2", DeliveryState.DELIVERED, 1),
            row(3, "g2", "o2-r1", DeliveryState.DELIVERED, 2)]  # fmt: skip
    caller = SimpleNamespace(answers=Counter({"PENDING": 3}), gave_up=[])
    outcome = judge(rows, ORDERS, record([("p1", "o1-r2"), ("p2", "o2-r1"), ("p2", "o2-r1")]), caller)
    assert outcome.problems == []
    assert (outcome.figures.duplicates, outcome.figures.unseen_duplicates, outcome.figures.applications) == (1, 0, 3)


def test_every_kind_of_broken_promise_is_found() -> None:
    rows = [row(1, "g1", "o1-r1", DeliveryState.DELIVERED, 1), row(2, "g1", "o1-r2", DeliveryState.DELIVERED, 1),
            row(3, "g2", "o2-r1", DeliveryState.FAILED, 1)]  # fmt: skip
    caller = SimpleNamespace(answers=Counter({"INTERNAL_SERVER_ERROR (HTTP 200)": 2}), gave_up=[])
    # p1: r2 then r1 again (out of order, not ending on the newest, r1 applied twice with one send)
    outcome = judge(rows, ORDERS, record([("p1", "o1-r1"), ("p1", "o1-r2"), ("p1", "o1-r1")]), caller)
    figures = outcome.figures
    assert (figures.out_of_order, figures.lost, figures.unseen_duplicates, figures.failed) == (1, 2, 1, 1)
    assert figures.internal_errors == 2 and len(outcome.problems) >= 5
