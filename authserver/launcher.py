"""The ``authserver`` console script: ``flask --app authserver`` under its own name, plus ``serve``.

``authserver db upgrade``, ``authserver users ...``, ``authserver demo`` and the rest work as with
``flask --app authserver``, from any directory (the installed wheel has no ``wsgi.py``).
``authserver serve`` runs the services under gunicorn with ``authserver.gunicorn_settings`` (its
worker model, and the hooks that serve each service's metrics when its address is set).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping

import click
from flask.cli import FlaskGroup

from authserver import create_app
from configrules import SettingError

#: gunicorn's ``module:factory()`` form: each service made in its worker, from any directory.
AUTH_APP = "authserver:create_app()"
API_APP = "resource_api:create_app()"
DEMO_CLIENT_APP = "examples.demo_client:create_app()"  # a checkout's example, not in the wheel
#: Workers and hooks for both services (gunicorn imports it, in the master).
SETTINGS = "python:authserver.gunicorn_settings"


def control_socket(bind: str) -> str:
    """gunicorn's control socket for the master on ``bind``: one each, where gunicorn keeps its
    own (``$XDG_RUNTIME_DIR``, else ``~/.gunicorn``), since every master would otherwise take
    the one default path from the one before it."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = runtime if runtime and os.path.isdir(runtime) else os.path.expanduser("~/.gunicorn")
    name = re.sub(r"[^A-Za-z0-9.-]", "-", bind)
    return os.path.join(folder, f"gunicorn-{name}.ctl")


def _gunicorn(bind: str, app: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--control-socket",
        control_socket(bind),
        *extra,
        app,
    ]


def _service(bind: str, app: str) -> list[str]:
    return _gunicorn(bind, app, "--config", SETTINGS)


def _next_port(bind: str, offset: int) -> str:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {bind!r}", param_hint="--bind")
    return f"{host}:{int(port) + offset}"


#: Bound on every interface: the URL others use is unknown, so the derived one names loopback
#: (http is allowed there only anyway); set AUTHSERVER_ISSUER for anything else.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}  # noqa: S104


def url_of(bind: str) -> str:
    """``http://HOST:PORT`` for a gunicorn ``--bind HOST:PORT``."""
    host, _, port = bind.rpartition(":")
    return f"http://{_WILDCARD_HOSTS.get(host, host)}:{port}"


def derived_settings(
    bind: str, api: bool, demo_client: bool, environ: Mapping[str, str]
) -> dict[str, str]:
    """The addresses each service must know of the others, from the ports they are bound to:
    the server's issuer, the API's audience (the server's default one too), the demo client's
    issuer, API and callbacks. A variable already set in ``environ`` is the operator's and is
    kept; only unset ones are returned."""
    host, _, port = bind.rpartition(":")
    if not port.isdigit():  # e.g. gunicorn's unix:PATH: no URL to derive
        return {}
    issuer = environ.get("AUTHSERVER_ISSUER") or url_of(bind)
    api_url = url_of(_next_port(bind, 1))
    demo_url = url_of(_next_port(bind, 2))
    wanted = {"AUTHSERVER_ISSUER": issuer}
    if api:
        audience = environ.get("RESOURCE_API_AUDIENCE") or api_url
        wanted |= {
            "AUTHSERVER_DEFAULT_AUDIENCE": audience,
            "RESOURCE_API_ISSUER": issuer,
            "RESOURCE_API_AUDIENCE": audience,
        }
    if demo_client:
        wanted |= {
            "DEMO_CLIENT_ISSUER": issuer,
            "DEMO_CLIENT_REDIRECT_URI": f"{demo_url}/callback",
            "DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI": f"{demo_url}/",
        }
        if host.strip("[]") in ("127.0.0.1", "::1", "localhost"):
            # The demo's back-channel logout receiver is a plain-http loopback URL, which the
            # SSRF guards refuse unless told otherwise; a loopback-bound demo run is no
            # production (a public bind keeps the guard).
            wanted["AUTHSERVER_OUTBOUND_ALLOW_LOOPBACK"] = "true"
        if api:
            wanted["DEMO_CLIENT_API_URL"] = api_url
    return {name: value for name, value in wanted.items() if not environ.get(name)}


@click.command("serve")
@click.option(
    "--bind", default="127.0.0.1:5000", show_default=True, help="HOST:PORT of the server."
)
@click.option("--api", is_flag=True, help="Also run the resource API on the next port.")
@click.option(
    "--demo-client",
    is_flag=True,
    help="Also run the demo client app (a checkout's examples/) two ports up; it needs "
    "DEMO_CLIENT_CLIENT_SECRET.",
)
@click.option(
    "--print-settings",
    is_flag=True,
    help="Print the NAME=value settings derived from the ports (one a line) and exit.",
)
def serve(bind: str, api: bool, demo_client: bool, print_settings: bool) -> None:
    """Run the authorization server under gunicorn (Ctrl-C stops every service started).

    Unless set, the issuer, the API's audience and the demo client's addresses follow --bind:
    the API runs one port up, the demo client two.
    """
    others = []
    if api:
        others.append(_service(_next_port(bind, 1), API_APP))
    if demo_client:
        others.append(
            _gunicorn(_next_port(bind, 2), DEMO_CLIENT_APP, "--workers", "1", "--threads", "4")
        )
    settings = derived_settings(bind, api, demo_client, os.environ)
    if print_settings:
        for name, value in settings.items():
            click.echo(f"{name}={value}")
        return
    os.environ.update(settings)  # inherited by every gunicorn started below
    main_command = _service(bind, AUTH_APP)
    if not others:
        os.execv(sys.executable, main_command)  # noqa: S606 - gunicorn in this interpreter
    # SIGTERM as Ctrl-C: either way every gunicorn started here is stopped, then waited for.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    children = [subprocess.Popen(command) for command in others]  # noqa: S603
    status = 130
    try:
        children.append(subprocess.Popen(main_command))  # noqa: S603
        status = children[-1].wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            child.wait()
    raise SystemExit(status)


def main() -> None:
    cli = FlaskGroup(
        name="authserver",
        help="Run and manage the authorization server (as `flask --app authserver`).",
        create_app=create_app,
    )
    cli.add_command(serve)
    try:
        cli.main(prog_name="authserver")
    except SettingError as error:
        # A setting out of range: its one line, not a traceback (the app is made lazily, by
        # whichever command needs it, so this is where every command's start meets).
        click.echo(f"Error: {error}", err=True)
        raise SystemExit(2) from None
