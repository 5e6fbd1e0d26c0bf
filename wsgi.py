"""WSGI entry points: ``gunicorn wsgi:auth_app`` and ``gunicorn wsgi:api_app`` (SPEC), in a
checkout and from the installed wheel alike (setup.cfg ships this module).

Each app is made when first asked for (PEP 562), so a process serves, configures and logs
only the one service it runs. A setting out of range ends the process with its one line and
gunicorn's "app failed to load" status (4), like ``authserver.wsgi`` and ``resource_api.wsgi``.
"""

import sys

import authserver
import resource_api
from configrules import SettingError

_FACTORIES = {"auth_app": authserver.create_app, "api_app": resource_api.create_app}


def __getattr__(name: str):
    if name not in _FACTORIES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        app = globals()[name] = _FACTORIES[name]()
    except SettingError as error:
        print(f"Error: {error}", file=sys.stderr)
        raise SystemExit(4) from None
    return app
