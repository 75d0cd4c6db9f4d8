"""CLI: load trusted-document manifests into the store every instance shares.

    python -m server.manifests load --name partner-app manifest.json [more.json ...]

Reads the database from the configuration (GATEWAY_CONFIG). Every document is parsed and
validated against the schema first; one bad document loads nothing (exit code 2).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from schema.root import build_schema
from server.documents import DocumentPreparer
from server.persisted import read_manifest
from server.settings import SettingsError, load_settings
from store import create_store
from store.interface import PersistedDocument


def check_documents(documents: Sequence[PersistedDocument]) -> list[str]:
    """Problems of documents that would not run: syntax or validation errors."""
    preparer = DocumentPreparer(build_schema()._schema, max_tokens=1_000_000)
    problems = []
    for document in documents:
        prepared = preparer.prepare(document.body)
        problems += [f"{document.source} {document.id}: {error.message}" for error in prepared.errors]
    return problems


async def load(database_url: str, documents: Sequence[PersistedDocument]) -> int:
    store = create_store(database_url)
    try:
        await store.migrate()
        return await store.save_persisted_documents(documents, replace=True)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.manifests", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    loader = commands.add_parser("load", help="load manifests (Apollo persisted-query manifest or {id: body})")
    loader.add_argument("--name", required=True, help="the source name clients list in `documents`")
    loader.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        documents = [doc for path in args.files for doc in read_manifest(path, args.name)]
    except (SettingsError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    problems = check_documents(documents)
    if problems:
        print("not loaded:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 2
    written = asyncio.run(load(settings.database_url, documents))
    print(f"loaded {written} document(s) from {len(args.files)} file(s) as {args.name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
