"""What a fault scenario did to every order: the properties it must keep, and its figures."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from providers.models import Delivery


@dataclass
class Figures:
    orders: int = 0
    results: int = 0
    writes: int = 0  # requests the provider received
    applications: int = 0  # writes the provider applied
    duplicates: int = 0  # applications beyond the first, per result
    unseen_duplicates: int = 0  # results applied more often than their `sends` (or `attempts`) says
    overlaps: int = 0  # a write arrived for an order while another for it was in flight
    out_of_order: int = 0  # an older result applied after a newer one
    lost: int = 0  # orders whose provider does not end on the newest result
    failed: int = 0  # results left FAILED
    internal_errors: int = 0  # INTERNAL_SERVER_ERROR answers callers got
    recover_seconds: float | None = None  # fault over -> every newest result DELIVERED
    max_burst: int | None = None  # 429 storm: most writes within 100 ms after the first refusal

    def row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Outcome:
    figures: Figures
    problems: list[str] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)

    def explain(self) -> str:
        return "\n".join([*self.problems, f"figures: {self.figures.row()}", f"caller answers: {dict(self.answers)}"])


def sends_of(delivery: Delivery) -> int:
    """Requests that left the service for a result (`sends` where the service counts them)."""
    sends = getattr(delivery, "sends", None)
    return int(sends) if sends is not None else max(1, delivery.attempts)


def _sent_summary(row: Any) -> str | None:
    prepared = json.loads(row.prepared) if row.prepared else {"body": json.loads(row.request_body)}
    value = prepared.get("body", {}).get("summary")
    return str(value) if value is not None else None


def _index(summary: str | None) -> int:
    return int(summary.rsplit("-r", 1)[1]) if summary else -1


def judge(rows: list[Any], orders: list[tuple[str, str]], record: Any, caller: Any) -> Outcome:
    """Every order: its newest result delivered and held by the provider, applications in order,
    every repeat counted by the service; no overlap, no FAILED, no INTERNAL_SERVER_ERROR."""
    figures = Figures(orders=len(orders), results=len(rows), writes=len(record.visits), overlaps=len(record.overlaps))
    outcome = Outcome(figures, answers=Counter(caller.answers))
    problems = outcome.problems
    native = dict(orders)
    newest: dict[str, Any] = {}
    for row in rows:
        newest[row.order_id] = row
        delivery = Delivery.model_validate_json(row.delivery)
        applied = sum(1 for v in record.visits if v.applied and v.order == native.get(row.order_id)
                      and v.summary == _sent_summary(row))  # fmt: skip
        figures.applications += applied
        figures.duplicates += max(0, applied - 1)
        if applied > sends_of(delivery):
            figures.unseen_duplicates += 1
        if delivery.state == "FAILED":
            figures.failed += 1
            problems.append(f"result {row.id} FAILED: {delivery.error_code} {delivery.error_message}")
    for global_id, provider_id in orders:
        row = newest.get(global_id)
        held = record.current.get(provider_id)
        state = Delivery.model_validate_json(row.delivery).state if row is not None else None
        if row is None or state != "DELIVERED" or held != _sent_summary(row):
            figures.lost += 1
            problems.append(
                f"order {provider_id}: newest {None if row is None else _sent_summary(row)} {state}, provider holds {held}"
            )
        applied = [_index(s) for s in record.applications.get(provider_id, [])]
        if applied != sorted(applied):
            figures.out_of_order += 1
            mine = [(r, Delivery.model_validate_json(r.delivery)) for r in rows if r.order_id == global_id]
            seen = [(_sent_summary(r), d.state.value, getattr(d, "sends", None), d.attempts) for r, d in mine]
            problems.append(
                f"order {provider_id}: applied out of order {applied}; results (summary, state, sends, attempts): {seen}"
            )
    figures.internal_errors = sum(
        n for answer, n in caller.answers.items() if answer.startswith("INTERNAL_SERVER_ERROR")
    )
    if figures.overlaps:
        problems.append(f"{figures.overlaps} overlapping writes, first: {record.overlaps[:3]}")
    if figures.unseen_duplicates:
        problems.append(f"{figures.unseen_duplicates} result(s) applied more often than the service counted")
    if figures.internal_errors:
        problems.append(f"callers got INTERNAL_SERVER_ERROR {figures.internal_errors} time(s)")
    problems.extend(f"caller gave up: {g}" for g in caller.gave_up[:10])
    return outcome
