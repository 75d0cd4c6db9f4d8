"""The floor of the comparison bench: plain Strawberry serving the same orders from memory.

    python -m bench.floor_app --port P --orders orders.json --provider http://127.0.0.1:Q

Same Strawberry version as the service, with its ParserCache and ValidationCache extensions, behind
uvicorn; `orders.json` holds the edges the service answered for its first 100 orders, so both sides
serve the same values. The mutation only sends the result to the provider endpoint with httpx.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.enum
class Provider(Enum):
    STACKONE = "STACKONE"
    KOMBO = "KOMBO"
    UNIFIED_TO = "UNIFIED_TO"


@strawberry.enum
class AssessmentStatus(Enum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


@strawberry.type
class AssessmentPackage:
    id: str
    name: str | None


@strawberry.type
class Candidate:
    name: str | None
    first_name: str | None
    last_name: str | None
    emails: list[str]
    phones: list[str]
    profile_url: str | None


@strawberry.type
class Job:
    title: str | None
    code: str | None
    location: str | None


@strawberry.type
class AssessmentOrder:
    id: strawberry.ID
    provider: Provider
    provider_order_id: str
    status: AssessmentStatus
    provider_status: str | None
    package: AssessmentPackage | None
    candidate: Candidate
    job: Job | None
    created_at: datetime | None
    updated_at: datetime | None


@strawberry.type
class AssessmentOrderEdge:
    cursor: str
    node: AssessmentOrder


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class AssessmentOrderConnection:
    edges: list[AssessmentOrderEdge]
    page_info: PageInfo


@strawberry.input
class ScoreInput:
    value: float
    max: float | None = None


@strawberry.input
class UpdateAssessmentResultInput:
    order_id: strawberry.ID
    status: AssessmentStatus
    score: ScoreInput | None = None
    summary: str | None = None
    completed_at: datetime | None = None


@strawberry.type
class Delivery:
    state: str
    provider_status_code: int | None


@strawberry.type
class UpdateAssessmentResultPayload:
    delivery: Delivery


ORDERS: list[AssessmentOrder] = []
PROVIDER: dict[str, httpx.AsyncClient] = {}


def _order(node: dict[str, Any]) -> AssessmentOrder:
    package, job, person = node["package"], node["job"], node["candidate"]
    return AssessmentOrder(
        id=strawberry.ID(node["id"]), provider=Provider(node["provider"]), provider_order_id=node["providerOrderId"],
        status=AssessmentStatus(node["status"]), provider_status=node["providerStatus"],
        package=AssessmentPackage(id=package["id"], name=package["name"]) if package else None,
        candidate=Candidate(name=person["name"], first_name=person["firstName"], last_name=person["lastName"],
                            emails=person["emails"], phones=person["phones"], profile_url=person["profileUrl"]),
        job=Job(title=job["title"], code=job["code"], location=job["location"]) if job else None,
        created_at=_time(node["createdAt"]), updated_at=_time(node["updatedAt"]),
    )  # fmt: skip


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _cursor(index: int) -> str:
    return base64.b64encode(f"order:{index}".encode()).decode()


@strawberry.type
class Query:
    @strawberry.field
    def assessment_orders(self, first: int | None = None, after: str | None = None) -> AssessmentOrderConnection:
        start = int(base64.b64decode(after).decode().split(":")[1]) + 1 if after else 0
        end = min(len(ORDERS), start + (first or 20))
        edges = [AssessmentOrderEdge(cursor=_cursor(i), node=ORDERS[i]) for i in range(start, end)]
        info = PageInfo(has_next_page=end < len(ORDERS), has_previous_page=start > 0,
                        start_cursor=edges[0].cursor if edges else None,
                        end_cursor=edges[-1].cursor if edges else None)  # fmt: skip
        return AssessmentOrderConnection(edges=edges, page_info=info)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def update_assessment_result(self, input: UpdateAssessmentResultInput) -> UpdateAssessmentResultPayload:
        order_id = str(input.order_id).partition(":")[2]
        body = {"result": {"value": "passed" if input.status is AssessmentStatus.COMPLETED else "failed"},
                "summary": input.summary, "submission_date": input.completed_at.isoformat() if input.completed_at else None,
                "score": {"value": str(input.score.value), "max": str(input.score.max)} if input.score else None}  # fmt: skip
        response = await PROVIDER["client"].patch(f"/unified/ats/assessments/orders/{order_id}/result", json=body)
        state = "DELIVERED" if response.status_code == 200 else "FAILED"
        return UpdateAssessmentResultPayload(delivery=Delivery(state=state, provider_status_code=response.status_code))


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[ParserCache(), ValidationCache()])


def create_app(orders_file: Path, provider_url: str) -> Starlette:
    ORDERS[:] = [_order(edge["node"]) for edge in json.loads(orders_file.read_text())]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=provider_url) as client:
            PROVIDER["client"] = client
            yield

    return Starlette(routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"])], lifespan=lifespan)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--orders", type=Path, required=True)
    parser.add_argument("--provider", required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.orders, args.provider), host="127.0.0.1", port=args.port, log_level="warning")
