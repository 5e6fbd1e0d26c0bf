"""The resource API's logs: the shared JSON-lines request logging (``jsonlog``)."""

from jsonlog import configure_logging, note

__all__ = ["configure_logging", "note"]
