"""``python -m examples.mcp_calendar``: serve the MCP server with uvicorn on MCP_CALENDAR_BIND."""

from __future__ import annotations

import sys

import uvicorn

from .config import ConfigError, load_settings
from .server import create_app


def main() -> None:
    try:
        settings = load_settings()
    except (ConfigError, OSError) as error:
        sys.exit(f"Error: {error}")
    host, port = settings.host_and_port
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


if __name__ == "__main__":
    main()
