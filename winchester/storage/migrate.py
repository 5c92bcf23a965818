"""Schema migrations: alembic, configured in code (no alembic.ini to install)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

__all__ = ["alembic_config", "upgrade"]

SCRIPT_LOCATION = "winchester.storage:migrations"


def alembic_config(
    url: str, *, stdout: TextIO | None = None, **attributes: Any
) -> Config:
    """An alembic configuration for the database at ``url`` (output to ``stdout``)."""
    config = Config(stdout=stdout or sys.stdout)
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes.update(attributes)
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database of ``engine`` to ``revision`` (tests, the sandbox)."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(str(engine.url), connection=conn), revision)
