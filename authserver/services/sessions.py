"""Browser sessions and the tokens apps received during them."""

from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import TokenFamily, User
from .tokens import revoke_family


def revoke_session_tokens(user: User, session_id: str) -> int:
    """Revoke the grants apps received while this login session lasted ("log out everywhere")."""
    families = list(
        db.session.scalars(
            select(TokenFamily).where(
                TokenFamily.user_id == user.id,
                TokenFamily.session_id == session_id,
                TokenFamily.revoked_at.is_(None),
            )
        )
    )
    for family in families:
        revoke_family(family)
    db.session.commit()
    return len(families)
