"""Downgrades refuse to drop data silently (issue 19, item 3).

A downgrade that would lose something the operator cares about (a disabled account enabled
again, a pre-published key signing, the audit record) first counts what it would lose and, if
anything, stops before any change with one message saying what and how to proceed: undo it with
the commands named, restore a backup instead, or accept the loss explicitly with
``authserver db downgrade -x drop_data=yes``.
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import text

#: ``-x drop_data=yes``: the operator has read what will be lost and accepts it.
ACCEPT = "drop_data"


def refuse_losing(revision: str, losses: list[tuple[str, str]]) -> None:
    """``losses``: (SQL counting the rows that would lose something, what they would lose).

    Raises ``RuntimeError`` (Alembic prints it, the command exits 1, nothing has changed) unless
    every count is 0 or the operator passed ``-x drop_data=yes``.
    """
    connection = op.get_bind()
    found = []
    for count_sql, what in losses:
        count = connection.execute(text(count_sql)).scalar() or 0
        if count:
            found.append(f"{count} {what}")
    if not found:
        return
    if context.get_x_argument(as_dictionary=True).get(ACCEPT) == "yes":
        return
    raise RuntimeError(
        f"Cannot downgrade below {revision} without losing data: "
        + "; ".join(found)
        + ". Undo that first, restore a backup taken before the upgrade instead, or accept "
        f"the loss with `authserver db downgrade -x {ACCEPT}=yes <revision>`."
    )
