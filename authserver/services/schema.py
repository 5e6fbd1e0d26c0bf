"""Whether the database's schema is the one this code was written for (readiness).

A node whose database is behind the code answers with 500s wherever a new column is read, so
it is not ready until ``authserver db upgrade`` has run. A database *ahead* of the code is a
rolling upgrade in progress: another node has migrated, and migrations add before they take
away (docs/operating.md), so this node still serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app

from ..extensions import db


@dataclass(frozen=True)
class Revisions:
    """The migration scripts this code ships: their heads, and every revision they know."""

    heads: frozenset[str]
    known: frozenset[str]


def shipped_revisions(directory: str | Path) -> Revisions:
    """The revisions of the migration scripts in ``directory`` (read once per process)."""
    config = Config()
    config.set_main_option("script_location", str(directory))
    scripts = ScriptDirectory.from_config(config)
    return Revisions(
        heads=frozenset(scripts.get_heads()),
        known=frozenset(script.revision for script in scripts.walk_revisions()),
    )


def schema_behind() -> str | None:
    """Why the database's schema is behind this code, or None if it is not.

    Raises SQLAlchemyError if the database cannot be reached.
    """
    revisions = current_app.extensions.get("authserver.revisions")
    if revisions is None:
        directory = current_app.extensions["migrate"].directory
        revisions = current_app.extensions["authserver.revisions"] = shipped_revisions(directory)
    current = frozenset(MigrationContext.configure(db.session.connection()).get_current_heads())
    if current == revisions.heads or current - revisions.known:
        return None  # up to date, or ahead of this code (a rolling upgrade)
    shown = ", ".join(sorted(current)) or "none (an empty database)"
    return (
        f"the database schema is at {shown}, this code needs {', '.join(sorted(revisions.heads))}:"
        " run `authserver db upgrade`"
    )
