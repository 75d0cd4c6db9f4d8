"""Persisted queries over HTTP: Apollo's APQ protocol, trusted-document manifests, per-client safelists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from providers.errors import ErrorCode
from server.clients import ClientConfig, hash_api_key
from server.manifests import main as manifests_main
from server.persisted import parse_manifest, sha256_hex
from server.settings import DocumentSource
from tests.server.conftest import CLIENTS, READ_WRITE, Build, codes

COUNT = "query Count { assessmentOrders { totalCount } }"
FIRST = "query First { assessmentOrders(first: 1) { edges { node { id } } } }"
LISTED = "query Listed { assessmentOrders(first: 2) { totalCount } }"
NOT_FOUND_CACHE = "private, no-cache, must-revalidate"


def apq(sha: str) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


def write_manifests(tmp_path: Path) -> tuple[DocumentSource, DocumentSource]:
    apollo = {
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [
            {"id": sha256_hex(LISTED), "body": LISTED, "name": "Listed", "type": "query"},
            {"id": "first-op", "body": FIRST, "name": "First", "type": "query", "clientName": "partner"},
        ],
    }  # fmt: skip
    (tmp_path / "partner.json").write_text(json.dumps(apollo))
    (tmp_path / "plain.json").write_text(json.dumps({"count-v1": COUNT}))
    return DocumentSource(name="partner-app", path=str(tmp_path / "partner.json")), DocumentSource(
        name="plain", path=str(tmp_path / "plain.json")
    )


PARTNER = ClientConfig(name="partner", api_key_sha256=(hash_api_key("partner-key"),), scopes=READ_WRITE,
                       connections=("*",), safelist=True, documents=("partner-app",))  # fmt: skip
STRICT = ClientConfig(name="strict", api_key_sha256=(hash_api_key("strict-key"),), scopes=READ_WRITE,
                      connections=("*",), safelist=True, require_persisted_id=True, documents=("partner-app",))  # fmt: skip


async def test_apq_unknown_hash_then_register_then_hash_only(build: Build) -> None:
    # given the open sandbox service
    services, caller = await build()
    sha = sha256_hex(COUNT)
    # when a client sends only the hash of a document the service has never seen
    first = await caller.post({"extensions": apq(sha)})
    # then it is told so, in Apollo's words, and the answer is not cached
    assert first.status_code == 200
    assert first.json() == {"errors": [{"message": "PersistedQueryNotFound",
                                         "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}  # fmt: skip
    assert first.headers["cache-control"] == NOT_FOUND_CACHE
    # when it sends the hash with the text, then only the hash (POST and GET)
    registered = (await caller.post({"query": COUNT, "extensions": apq(sha)})).json()
    by_post = (await caller.post({"extensions": apq(sha)})).json()
    by_get = (await caller.get({"extensions": json.dumps(apq(sha))})).json()
    # then all three answer the same data
    assert "errors" not in registered and registered == by_post == by_get
    assert registered["data"]["assessmentOrders"]["totalCount"] > 0


async def test_apq_stores_only_documents_that_validate(build: Build) -> None:
    services, caller = await build()
    bad = "{ nope }"
    refused = (await caller.post({"query": bad, "extensions": apq(sha256_hex(bad))})).json()
    assert codes(refused) == [ErrorCode.GRAPHQL_VALIDATION_FAILED]
    assert await services.store.find_persisted_documents(ids=[sha256_hex(bad)]) == []
    assert codes((await caller.post({"extensions": apq(sha256_hex(bad))})).json()) == [
        ErrorCode.PERSISTED_QUERY_NOT_FOUND
    ]


async def test_apq_hash_mismatch_and_unsupported_version(build: Build) -> None:
    _, caller = await build()
    mismatch = await caller.post({"query": COUNT, "extensions": apq(sha256_hex(FIRST))})
    assert (mismatch.status_code, codes(mismatch.json())) == (400, [ErrorCode.PERSISTED_QUERY_HASH_MISMATCH])
    version = await caller.post({"query": COUNT, "extensions": {"persistedQuery": {"version": 2, "sha256Hash": "x"}}})
    assert (version.status_code, codes(version.json())) == (400, [ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED])


async def test_apq_registrations_are_shared_by_every_instance(build: Build) -> None:
    # given two instances on one store
    _, one = await build()
    _, two = await build()
    sha = sha256_hex(FIRST)
    # when the first registers a document
    assert "errors" not in (await one.post({"query": FIRST, "extensions": apq(sha)})).json()
    # then the second runs it by hash
    body = (await two.post({"extensions": apq(sha)})).json()
    assert "errors" not in body and len(body["data"]["assessmentOrders"]["edges"]) == 1


async def test_full_text_and_persisted_documents_share_one_parse(build: Build) -> None:
    # given a document registered by APQ (parsed once then)
    services, caller = await build()
    sha = sha256_hex(COUNT)
    await caller.post({"query": COUNT, "extensions": apq(sha)})
    view_parses = _preparer(services, caller)
    before = view_parses.parse_count
    # when it runs again by hash, and as full text
    for _ in range(5):
        assert "errors" not in (await caller.post({"extensions": apq(sha)})).json()
        assert "errors" not in (await caller.post({"query": COUNT})).json()
    # then it is not parsed again; a new text is parsed once, then served from the same cache
    assert view_parses.parse_count == before
    other = COUNT.replace("{", "{ ", 1)
    for _ in range(3):
        assert "errors" not in (await caller.post({"query": other})).json()
    assert view_parses.parse_count == before + 1


def _preparer(services: object, caller: object) -> object:
    app = caller.http._transport.app  # type: ignore[attr-defined]
    route = next(r for r in app.routes if getattr(r, "path", "") == "/graphql")
    return route.app.edge.preparer


async def test_trusted_documents_by_id_and_document_id(build: Build, tmp_path: Path) -> None:
    # given manifests in the configuration
    sources = write_manifests(tmp_path)
    _, caller = await build(persisted_documents=sources)
    # when documents are asked for by their id, in both protocols
    by_hash = (await caller.post({"extensions": apq(sha256_hex(LISTED))})).json()
    by_document_id = (await caller.post({"documentId": f"sha256:{sha256_hex(LISTED)}"})).json()
    by_plain_id = (await caller.get({"documentId": "count-v1"})).json()
    # then they run
    assert "errors" not in by_hash and by_hash == by_document_id
    assert by_plain_id["data"]["assessmentOrders"]["totalCount"] > 0
    # and an operation reserved to one client is not there for others
    reserved = await caller.post({"documentId": "first-op"})
    assert codes(reserved.json()) == [ErrorCode.PERSISTED_QUERY_NOT_FOUND]


async def test_safelisted_client_runs_its_manifest_only(build: Build, tmp_path: Path) -> None:
    sources = write_manifests(tmp_path)
    _, anonymous = await build(persisted_documents=sources, clients=(*CLIENTS, PARTNER, STRICT))
    partner, strict = anonymous.as_(x_api_key="partner-key"), anonymous.as_(x_api_key="strict-key")
    # its operations run by id, and as full text when the text is listed
    assert "errors" not in (await partner.post({"documentId": "first-op"})).json()
    assert "errors" not in (await partner.post({"extensions": apq(sha256_hex(LISTED))})).json()
    assert "errors" not in (await partner.post({"query": LISTED})).json()
    # an id outside its list (another manifest's) is not in the list: 404
    other = await partner.post({"documentId": "count-v1"})
    assert (other.status_code, codes(other.json())) == (404, [ErrorCode.PERSISTED_QUERY_NOT_IN_LIST])
    # any other text is refused: 403, and it cannot register it by APQ
    free = await partner.post({"query": COUNT})
    assert (free.status_code, codes(free.json())) == (403, [ErrorCode.QUERY_NOT_IN_SAFELIST])
    register = await partner.post({"query": COUNT, "extensions": apq(sha256_hex(COUNT))})
    assert (register.status_code, codes(register.json())) == (404, [ErrorCode.PERSISTED_QUERY_NOT_IN_LIST])
    # a client that must send ids is refused full text, even listed text: 400
    listed_text = await strict.post({"query": LISTED})
    assert (listed_text.status_code, codes(listed_text.json())) == (400, [ErrorCode.PERSISTED_QUERY_ID_REQUIRED])
    assert "errors" not in (await strict.post({"documentId": f"sha256:{sha256_hex(LISTED)}"})).json()


def test_manifest_formats_and_their_problems() -> None:
    plain = parse_manifest({"a": "{ __typename }"}, "m")
    assert [(d.id, d.source, d.body_hash) for d in plain] == [("a", "m", sha256_hex("{ __typename }"))]
    with pytest.raises(ValueError, match="version must be 1; operations\\[0\\]: bad or missing name, type"):
        parse_manifest({"format": "apollo-persisted-query-manifest", "version": 2,
                        "operations": [{"id": "x", "body": "{ a }"}]}, "m")  # fmt: skip
    with pytest.raises(ValueError, match="neither"):
        parse_manifest([1, 2], "m")


async def test_cli_loads_a_manifest_for_every_instance(
    build: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a running instance and a configuration naming its database
    services, caller = await build()
    config = tmp_path / "gateway.toml"
    config.write_text(f'[service]\nsandbox = true\ndatabase_url = "{services.settings.database_url}"\n'
                      '[[connections]]\nid = "sandbox-kombo"\nprovider = "KOMBO"\nsandbox = true\n'
                      'api_key = "k"\nintegration_id = "i"\n')  # fmt: skip
    monkeypatch.setenv("GATEWAY_CONFIG", str(config))
    (tmp_path / "bad.json").write_text(json.dumps({"bad": "{ nope }"}))
    (tmp_path / "good.json").write_text(json.dumps({"cli-count": COUNT}))
    # when a manifest with an invalid document is loaded (the CLI, in its own thread), nothing is
    assert await asyncio.to_thread(manifests_main, ["load", "--name", "cli", str(tmp_path / "bad.json")]) == 2
    assert "Cannot query field 'nope'" in capsys.readouterr().err
    # when a good one is loaded
    assert await asyncio.to_thread(manifests_main, ["load", "--name", "cli", str(tmp_path / "good.json")]) == 0
    # then the running instance serves it by id
    body = (await caller.post({"documentId": "cli-count"})).json()
    assert body["data"]["assessmentOrders"]["totalCount"] > 0


async def test_apq_registrations_are_per_client_when_clients_are_configured(build: Build) -> None:
    # given two clients of one service; the dashboard registers a document with a literal in it
    _, anonymous = await build(clients=CLIENTS)
    dashboard, reader = anonymous.as_(x_api_key="dashboard-key"), anonymous.as_(x_api_key="reader-key")
    text = '{ assessmentOrders(filter: {search: "ada@example.com"}) { totalCount } }'
    sha = sha256_hex(text)
    registered = await dashboard.post({"query": text, "extensions": apq(sha)})
    assert registered.status_code == 200 and "errors" not in registered.json()
    # when another client probes for that exact text by its hash
    probe = await reader.post({"extensions": apq(sha)})
    # then it learns nothing: the document is not found for it
    assert codes(probe.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    # while the client that registered it runs it by hash alone
    assert "errors" not in (await dashboard.post({"extensions": apq(sha)})).json()
    # and the other client may register the same text in its own namespace
    assert "errors" not in (await reader.post({"query": text, "extensions": apq(sha)})).json()
    assert "errors" not in (await reader.post({"extensions": apq(sha)})).json()
