"""WSGI entry points: ``gunicorn wsgi:auth_app`` and ``gunicorn wsgi:api_app``.

Each app is made when first asked for (PEP 562), so a process serves, configures and logs
only the one service it runs.
"""

import authserver
import resource_api

_FACTORIES = {"auth_app": authserver.create_app, "api_app": resource_api.create_app}


def __getattr__(name: str):
    if name not in _FACTORIES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    app = globals()[name] = _FACTORIES[name]()
    return app
