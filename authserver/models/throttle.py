from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class RateLimitCounter(Base):
    """A fixed-window counter of the rate limiter, shared by every worker and node.

    Epoch seconds rather than datetimes: the ``limits`` storage interface speaks in them.
    """

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
