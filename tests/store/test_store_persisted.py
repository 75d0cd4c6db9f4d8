"""Persisted documents in the store, on SQLite and PostgreSQL: APQ keeps the first, manifests replace."""

from __future__ import annotations

from store import SqlStore
from store.interface import PersistedDocument


def doc(id_: str, body: str, source: str = "apq", **extra: str) -> PersistedDocument:
    return PersistedDocument(id=id_, body=body, source=source, body_hash=f"h-{body}", **extra)


async def test_apq_keeps_the_first_registration(store: SqlStore) -> None:
    assert await store.save_persisted_documents([doc("a", "{ x }")], replace=False) == 1
    assert await store.save_persisted_documents([doc("a", "{ y }")], replace=False) == 0
    (found,) = await store.find_persisted_documents(ids=["a"])
    assert (found.body, found.source, found.created_at is not None) == ("{ x }", "apq", True)


async def test_manifests_replace_by_source_and_id_and_are_found_by_id_or_body_hash(store: SqlStore) -> None:
    await store.save_persisted_documents([doc("op", "{ a }", "m1", operation_name="A", operation_type="query"),
                                          doc("op", "{ b }", "m2", client_name="partner")], replace=True)  # fmt: skip
    await store.save_persisted_documents([doc("op", "{ c }", "m1", operation_name="C", operation_type="query")],
                                         replace=True)  # fmt: skip
    by_id = await store.find_persisted_documents(ids=["op"])
    assert [(d.source, d.body, d.operation_name, d.client_name) for d in by_id] == [
        ("m1", "{ c }", "C", None), ("m2", "{ b }", None, "partner"),
    ]  # fmt: skip
    by_hash = await store.find_persisted_documents(body_hashes=["h-{ b }"])
    assert [d.source for d in by_hash] == ["m2"]
    assert await store.find_persisted_documents() == []
