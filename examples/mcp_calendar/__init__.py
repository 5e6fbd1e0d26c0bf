"""An MCP server (the third example): the person's calendar as tools for AI agents.

It trusts the authorization server only through HTTP (metadata, JWKS, token exchange) and calls
the resource API only with tokens it got by token exchange — never the one it received (MCP
forbids token passthrough). It imports neither ``authserver`` nor ``resource_api``.
``python -m examples.mcp_calendar`` runs it (settings: ``config.py``).
"""

from __future__ import annotations

from .config import ConfigError, Settings, load_settings
from .server import create_app

__all__ = ["ConfigError", "Settings", "create_app", "load_settings"]
