"""Alembic migrations of the store, run in code: no alembic.ini on disk."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

SCRIPT_LOCATION = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for these migrations; `url` is only needed when env.py builds its own engine."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def at_head(connection: Connection) -> bool:
    """Whether the database's revision is the newest migration (called through `run_sync`)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return set(MigrationContext.configure(connection).get_current_heads()) == heads


def upgrade_to_head(connection: Connection) -> None:
    """Upgrade on an open connection (called through `AsyncConnection.run_sync`)."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
