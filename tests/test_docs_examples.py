"""The README's and docs' examples run as written against the default run (`python app.py`, a real socket).

Every fenced ```graphql block is sent, operation by operation, in the order of the pages; a ```json block
right after one holds its variables. A `$id` without such a block is the last `result.id` answered (the
docs say so where they use it). Every `curl` line of a ```sh block runs in a shell against the service.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, OperationType, parse, print_ast

from server.settings import parse_settings
from tests.processes import served_app

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/api.md", "docs/webhooks.md", "docs/delivery.md",
         *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")
                 if p.name not in {"api.md", "webhooks.md", "delivery.md"})]  # fmt: skip
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
# What each example must answer beyond "no errors" (by operation name).
EXPECTED = {
    "FirstOrders": lambda d: d["assessmentOrders"]["totalCount"] >= 15,
    "Open": lambda d: d["assessmentOrders"]["edges"] != [],
    "Again": lambda d: d["node"]["provider"] == "KOMBO",
    "Submit": lambda d: (d["updateAssessmentResult"]["delivery"]["state"], d["updateAssessmentResult"]["order"]["status"])
    == ("DELIVERED", "COMPLETED"),
    "SyncNow": lambda d: d["syncConnection"]["finished"] is True and d["syncConnection"]["errorCode"] is None,
    "SubmitWhileRateLimited": lambda d: (d["updateAssessmentResult"]["delivery"]["state"],
                                         d["updateAssessmentResult"]["delivery"]["errorCode"])
    == ("RETRYING", "PROVIDER_RATE_LIMITED"),
    "Waiting": lambda d: [e["node"]["delivery"]["state"] for e in d["deliveries"]["edges"]] == ["RETRYING"],
    "Retry": lambda d: d["retryDelivery"]["delivery"]["state"] == "RETRYING",
    "Cancel": lambda d: d["cancelDelivery"]["delivery"]["state"] == "CANCELLED",
}  # fmt: skip


@dataclass
class Block:
    page: str
    lang: str
    text: str


def blocks() -> list[Block]:
    return [Block(page, m.group(1), m.group(2)) for page in PAGES for m in FENCE.finditer((ROOT / page).read_text())]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    with served_app(tmp_path_factory.mktemp("docs"), env) as base:
        yield base


class Runner:
    """Runs the examples in page order, remembering the last result id answered."""

    def __init__(self, base: str) -> None:
        self.base, self.result_id, self.ran = base, "", []

    def graphql(self, block: Block, variables: dict[str, Any] | None) -> None:
        for op in parse(block.text).definitions:
            assert isinstance(op, OperationDefinitionNode) and op.name is not None, block.text
            wanted = {v.variable.name.value for v in op.variable_definitions or ()}
            given = variables if variables is not None else ({"id": self.result_id} if wanted == {"id"} else {})
            body = {"query": print_ast(op), "variables": given, "operationName": op.name.value}
            if op.operation == OperationType.SUBSCRIPTION:
                answer = self.first_event(body, wanted)
            else:
                answer = httpx.post(f"{self.base}/graphql", json=body, timeout=30).json()
            assert "errors" not in answer and answer.get("data"), (block.page, op.name.value, answer)
            check = EXPECTED.get(op.name.value)
            assert check is None or check(answer["data"]), (block.page, op.name.value, answer)
            self.result_id = _result_id(answer["data"]) or self.result_id
            self.ran.append(op.name.value)

    def first_event(self, body: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
        """A subscription example: from the current cursor (when it takes `after`), over SSE, with one
        new sandbox order to report; its first event."""
        if "after" in wanted:
            cursor = httpx.post(f"{self.base}/graphql", json={"query": "{ assessmentOrderEventCursor }"}, timeout=30)
            body["variables"] = {**body["variables"], "after": cursor.json()["data"]["assessmentOrderEventCursor"]}
        with httpx.stream("POST", f"{self.base}/graphql", json=body, headers={"accept": "text/event-stream"},
                          timeout=30) as stream:  # fmt: skip
            assert stream.status_code == 200, stream.read()
            assert httpx.post(f"{self.base}/sandbox/kombo/_sandbox/orders", json={}, timeout=30).status_code == 201
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    return dict(json.loads(line[len("data: "):]))
        raise AssertionError("the subscription ended without an event")

    def shell(self, block: Block) -> None:
        for command in re.sub(r"\\\n\s*", "", block.text).splitlines():
            if not command.startswith("curl "):
                continue
            command = command.replace("localhost:8000", self.base.removeprefix("http://"), 1)
            done = subprocess.run(["sh", "-c", "curl -sS --fail-with-body " + command[5:]],
                                  capture_output=True, text=True, timeout=60)  # fmt: skip
            assert done.returncode == 0, (block.page, command, done.stdout, done.stderr)
            self.ran.append(shlex.split(command)[1:4])


def _result_id(data: dict[str, Any]) -> str | None:
    for value in data.values():
        if isinstance(value, dict) and isinstance(value.get("result"), dict) and "id" in value["result"]:
            return str(value["result"]["id"])
    return None


def test_every_graphql_and_curl_example_succeeds_as_written(service: str) -> None:
    runner = Runner(service)
    found = blocks()
    for index, block in enumerate(found):
        following = found[index + 1] if index + 1 < len(found) else None
        if block.lang == "graphql":
            has_variables = following is not None and following.lang == "json" and following.page == block.page
            runner.graphql(block, json.loads(following.text) if has_variables and following else None)
        elif block.lang == "sh":
            runner.shell(block)
    # every named example ran, curl ones included (a broken extraction cannot pass quietly)
    assert set(EXPECTED) <= {name for name in runner.ran if isinstance(name, str)}
    assert sum(1 for name in runner.ran if isinstance(name, list)) >= 3


def test_the_toml_examples_are_valid_configurations() -> None:
    # the README's minimal configuration and the full one of docs/configuration.md load as written
    # (their env: secrets set; the README's key hash placeholder filled in)
    environ = {name: "secret" for name in ("KOMBO_API_KEY", "KOMBO_WEBHOOK_SECRET", "STACKONE_API_KEY",
                                           "STACKONE_WEBHOOK_SECRET", "UNIFIED_API_KEY", "UNIFIED_WORKSPACE_SECRET")}
    tomls = {b.page: b.text for b in blocks() if b.lang == "toml" and b.page in ("README.md", "docs/configuration.md")}
    minimal = parse_settings(tomllib.loads(tomls["README.md"].replace("<sha256 hex of the key>", "a" * 64)), environ)
    assert [c.id for c in minimal.connections] == ["acme-kombo"] and minimal.clients[0].name == "reviewer-dashboard"
    full = parse_settings({**tomllib.loads(tomls["docs/configuration.md"]), "auth": {"anonymous": True}}, environ)
    assert [c.id for c in full.connections] == ["acme-stackone", "acme-kombo", "acme-unified"]
