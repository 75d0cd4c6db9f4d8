"""Persisted queries: Apollo's APQ protocol and trusted documents (manifests), with per-client safelists.

Documents live in the store (shared by every instance); an in-process cache of found ids sits in
front (for CACHE_SECONDS). Unknown ids are not cached, so a document registered on another instance
is found at once. An APQ document is stored only once it has parsed and validated.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.errors import ErrorCode
from server.clients import Principal
from server.errors import RequestError, bad_request
from store import Store
from store.interface import PersistedDocument

APQ = "apq"
MANIFEST_FORMAT = "apollo-persisted-query-manifest"
# A manifest reloaded on another instance is seen here within this time (APQ documents never change).
CACHE_SECONDS = 60.0
NOT_FOUND_HEADERS = {"Cache-Control": "private, no-cache, must-revalidate"}
OPERATION_TYPES = ("query", "mutation", "subscription")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Resolved:
    """The text to run (the view prepares it once, however it came).

    `register` is the APQ hash to store once the text has parsed and validated (never before)."""

    text: str
    register: str | None = None


def parse_manifest(data: Any, source: str) -> list[PersistedDocument]:
    """An Apollo persisted-query manifest (version 1) or a plain `{id: body}` map; ValueError lists every problem."""
    if isinstance(data, dict) and "format" in data:
        return _apollo_manifest(data, source)
    if isinstance(data, dict) and data and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return [PersistedDocument(id=k, body=v, source=source, body_hash=sha256_hex(v)) for k, v in data.items()]
    raise ValueError(f"{source}: neither an {MANIFEST_FORMAT} nor a non-empty {{id: body}} map of strings")


def _apollo_manifest(data: dict[str, Any], source: str) -> list[PersistedDocument]:
    problems: list[str] = []
    if data.get("format") != MANIFEST_FORMAT:
        problems.append(f"format must be {MANIFEST_FORMAT!r}")
    if data.get("version") != 1:
        problems.append("version must be 1")
    operations = data.get("operations")
    if not isinstance(operations, list):
        problems.append("operations must be a list")
        operations = []
    documents: list[PersistedDocument] = []
    for index, op in enumerate(operations):
        where = f"operations[{index}]"
        if not isinstance(op, dict):
            problems.append(f"{where} must be an object")
            continue
        wrong = [k for k in ("id", "body", "name") if not isinstance(op.get(k), str) or not op.get(k)]
        wrong += [] if op.get("type") in OPERATION_TYPES else ["type"]
        wrong += [] if isinstance(op.get("clientName", ""), str) else ["clientName"]
        if wrong:
            problems.append(f"{where}: bad or missing {', '.join(wrong)}")
            continue
        documents.append(PersistedDocument(
            id=op["id"], body=op["body"], source=source, body_hash=sha256_hex(op["body"]),
            operation_name=op["name"], operation_type=op["type"], client_name=op.get("clientName") or None,
        ))  # fmt: skip
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    return documents


def read_manifest(path: str | Path, source: str) -> list[PersistedDocument]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{source}: cannot read {path} ({exc})") from None
    return parse_manifest(data, source)


def document_id(value: str) -> str:
    """The id of a GraphQL-over-HTTP `documentId`: `sha256:<hex>` is the hash; other ids are kept as they are."""
    return value.removeprefix("sha256:")


class PersistedQueries:
    """Finds, registers and loads persisted documents; applies each client's safelist."""

    def __init__(self, store: Callable[[], Store], cache_size: int = 2000) -> None:
        self._store = store
        self._cache: OrderedDict[str, tuple[float, tuple[PersistedDocument, ...]]] = OrderedDict()
        self._cache_size = cache_size

    async def load(self, documents: Sequence[PersistedDocument]) -> int:
        """Store manifest documents (replacing earlier versions of the same source and id)."""
        written = await self._store().save_persisted_documents(documents, replace=True)
        self._cache.clear()
        return written

    async def resolve(
        self, query: str | None, persisted_query: Any, doc_id: str | None, principal: Principal
    ) -> Resolved:
        wanted = self._wanted_id(persisted_query, doc_id)
        safelist = principal.client is not None and principal.client.safelist
        if wanted is None:
            assert query is not None
            if safelist:
                return await self._listed_text(query, principal)
            return Resolved(query)
        if query is not None and persisted_query is not None:
            if sha256_hex(query) != wanted:
                raise RequestError(ErrorCode.PERSISTED_QUERY_HASH_MISMATCH, "provided sha does not match query", 400)
            if not safelist:
                return Resolved(query, register=wanted)
        found = [d for d in await self._by("id", wanted) if _permitted(d, principal)]
        if not found:
            if safelist:
                raise RequestError(ErrorCode.PERSISTED_QUERY_NOT_IN_LIST, "PersistedQueryNotInList", 404)
            raise RequestError(
                ErrorCode.PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound", 200, headers=NOT_FOUND_HEADERS
            )
        if query is not None and query != found[0].body:
            raise RequestError(ErrorCode.PERSISTED_QUERY_HASH_MISMATCH, "The document does not match its id.", 400)
        return Resolved(found[0].body)

    @staticmethod
    def _wanted_id(persisted_query: Any, doc_id: str | None) -> str | None:
        if persisted_query is None:
            return document_id(doc_id) if doc_id is not None else None
        if not isinstance(persisted_query, dict):
            raise bad_request("extensions.persistedQuery must be an object.")
        if persisted_query.get("version") != 1:
            raise RequestError(ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED, "PersistedQueryNotSupported", 400)
        sha = persisted_query.get("sha256Hash")
        if not isinstance(sha, str) or not sha:
            raise bad_request("extensions.persistedQuery.sha256Hash must be a string.")
        return sha

    async def _listed_text(self, query: str, principal: Principal) -> Resolved:
        assert principal.client is not None
        if principal.client.require_persisted_id:
            raise RequestError(ErrorCode.PERSISTED_QUERY_ID_REQUIRED, "PersistedQueryIdRequired", 400)
        listed = [d for d in await self._by("body", sha256_hex(query)) if _permitted(d, principal)]
        if not any(d.body == query for d in listed):
            raise RequestError(ErrorCode.QUERY_NOT_IN_SAFELIST, "QueryNotInSafelist", 403)
        return Resolved(query)

    async def register(self, sha: str, query: str, principal: Principal) -> None:
        """Store an APQ document for every instance (a valid one: the view checks first), in the
        caller's namespace (apq_source)."""
        key, source = f"id:{sha}", apq_source(principal)
        if any(d.source == source for d in self._cached(key) or ()):
            return
        document = PersistedDocument(id=sha, body=query, source=source, body_hash=sha)
        await self._store().save_persisted_documents([document], replace=False)
        self._cache.pop(key, None)
        self._cache.pop(f"body:{sha}", None)

    async def _by(self, kind: str, value: str) -> tuple[PersistedDocument, ...]:
        key = f"{kind}:{value}"
        found = self._cached(key)
        if found is not None:
            return found
        store = self._store()
        rows = await (store.find_persisted_documents(ids=[value]) if kind == "id"
                      else store.find_persisted_documents(body_hashes=[value]))  # fmt: skip
        found = tuple(rows)
        if found:
            self._cache[key] = (time.monotonic() + CACHE_SECONDS, found)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found

    def _cached(self, key: str) -> tuple[PersistedDocument, ...] | None:
        entry = self._cache.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        self._cache.move_to_end(key)
        return entry[1]


def apq_source(principal: Principal) -> str:
    """Where a caller's APQ registrations live. With clients configured each client has its own
    namespace (`apq:<client name>`), so no client can learn by hash what text another registered;
    without clients (the open sandbox, anonymous access) there is one shared namespace (`apq`)."""
    return APQ if principal.client is None else f"{APQ}:{principal.client.name}"


def _permitted(document: PersistedDocument, principal: Principal) -> bool:
    """APQ documents serve their own namespace only; safelisted clients use their own manifests
    only; others use every manifest."""
    if document.source == APQ or document.source.startswith(f"{APQ}:"):
        return document.source == apq_source(principal)
    client = principal.client
    if document.client_name is not None and (client is None or client.name != document.client_name):
        return False
    if client is not None and client.safelist:
        return document.source in client.documents
    return True


async def load_configured_documents(sources: Sequence[Any], store: Store) -> int:
    """Load the configuration's `[[persisted_documents]]` manifests into the store (at start)."""
    documents = [doc for source in sources for doc in read_manifest(source.path, source.name)]
    return await store.save_persisted_documents(documents, replace=True) if documents else 0
