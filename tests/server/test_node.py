"""Relay's `node(id:)`: the same order, scopes and tenancy as `assessmentOrder`, with security directives off or on."""

from __future__ import annotations

import pytest

from providers.errors import ErrorCode
from providers.models import OrderRef
from server.clients import ClientConfig, hash_api_key
from server.settings import FederationSettings
from tests.server.conftest import CLIENTS, Build, codes
from tests.server.test_auth import orders_by_connection

NODE = "query($id: ID!) { node(id: $id) { __typename id ... on AssessmentOrder { provider status } } }"
ONE = "query($id: ID!) { assessmentOrder(id: $id) { __typename id provider status } }"
WRITER = ClientConfig(name="writer", api_key_sha256=(hash_api_key("writer-key"),), scopes=("results:write",),
                      connections=("*",))  # fmt: skip


@pytest.mark.parametrize("security_directives", [False, True], ids=["directives-off", "directives-on"])
async def test_node_reads_only_what_the_client_may_read(build: Build, security_directives: bool) -> None:
    # given a client of the Kombo connection only, and a client without orders:read
    federation = FederationSettings(security_directives=security_directives)
    _, anonymous = await build(clients=(*CLIENTS, WRITER), federation=federation)
    everything = await orders_by_connection(anonymous.as_(x_api_key="dashboard-key"))
    kombo_only = anonymous.as_(x_api_key="kombo-only-key")
    own, foreign = everything["sandbox-kombo"][0], everything["sandbox-stackone"][0]
    # its own order: node answers what assessmentOrder answers
    by_node = (await kombo_only.query(NODE, {"id": own}))["data"]["node"]
    by_field = (await kombo_only.query(ONE, {"id": own}))["data"]["assessmentOrder"]
    assert by_node == by_field and by_node["__typename"] == "AssessmentOrder" and by_node["provider"] == "KOMBO"
    # another tenant's order is null, exactly like one that does not exist
    missing = OrderRef("sandbox-stackone", "no-such-order").encode()
    assert await kombo_only.query(NODE, {"id": foreign}) == {"data": {"node": None}}
    assert await kombo_only.query(NODE, {"id": missing}) == {"data": {"node": None}}
    # without orders:read: 403 before anything runs
    response = await anonymous.as_(x_api_key="writer-key").post({"query": NODE, "variables": {"id": own}})
    assert (response.status_code, codes(response.json())) == (403, [ErrorCode.FORBIDDEN])


async def test_a_malformed_node_id_is_bad_user_input(build: Build) -> None:
    _, anonymous = await build(clients=CLIENTS)
    body = await anonymous.as_(x_api_key="dashboard-key").query(NODE, {"id": "not an id"})
    assert body["data"] == {"node": None}
    assert codes(body) == [ErrorCode.BAD_USER_INPUT]
