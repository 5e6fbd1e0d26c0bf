"""The authorization server's logs: the shared JSON-lines request logging (``jsonlog``), with
Authlib held back from writing whole token responses."""

from __future__ import annotations

import logging

from flask import Flask

from jsonlog import configure_logging as _configure_logging
from jsonlog import note

__all__ = ["configure_logging", "note"]


def configure_logging(app: Flask, service: str) -> None:
    _configure_logging(app, service)
    # Authlib's DEBUG lines print whole token responses: never let them through, whatever the
    # root logger's level.
    logging.getLogger("authlib").setLevel(logging.INFO)
