"""``gunicorn authserver.wsgi:app``: the authorization server as a module-level WSGI app.

For servers that take ``module:attribute`` only (an installed wheel has no ``wsgi.py`` of the
checkout's). A setting out of range ends the process with its one line and gunicorn's "app
failed to load" status (4), which stops the master instead of a traceback per worker.
"""

from __future__ import annotations

import sys

from authserver import create_app
from configrules import SettingError

try:
    app = create_app()
except SettingError as error:
    print(f"Error: {error}", file=sys.stderr)
    raise SystemExit(4) from None
