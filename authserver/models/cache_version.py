from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class CacheVersion(Base):
    """A counter bumped whenever something every process caches changes (signing keys,
    clients), so each worker on each node notices at its next request, not after a timer."""

    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
