"""``python -m bench``: the endpoints over HTTP under gunicorn, driven by wrk, against a baseline.

One run makes a temporary instance (SQLite files, or fresh PostgreSQL databases with
``--db postgresql``), migrates and seeds it through the CLI, starts the authorization server,
the resource API and a bare Flask baseline under gunicorn with the settings ``make serve`` uses
(scripts/gunicorn.conf.py), measures each endpoint for ``--duration`` with ``--connections``
in ``--repeat`` rounds, prints one table of medians with each target's verdict (bench/targets.py)
and removes everything again. ``--in-process`` runs the older in-process benchmark.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import dpop, loadgen, wrk
from .endpoints import Endpoint, form_encode
from .material import Browser, create_events
from .report import Result, Row, format_table, write_json
from .targets import DEFAULT_ENDPOINTS, ENDPOINTS

SCOPES = "openid profile email offline_access events:read events:write"
REDIRECT_URI = "http://127.0.0.1:9/callback"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def parse_duration(text: str) -> float:
    """Seconds from ``10s``, ``500ms``, ``2m`` or a bare number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 500ms, 1m)")
    value = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[match.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _endpoint_list(text: str) -> list[str]:
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in ENDPOINTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown endpoint(s) {', '.join(unknown)}; choose from {', '.join(ENDPOINTS)}"
        )
    return keys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
        epilog=f"Endpoints: {', '.join(ENDPOINTS)} (default: {', '.join(DEFAULT_ENDPOINTS)}).",
    )
    parser.add_argument("--in-process", action="store_true", help="the older in-process bench")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgresql-url",
        default=os.environ.get("BENCH_POSTGRESQL_URL", "postgresql://127.0.0.1:5432/test"),
        help="server and database to connect to for CREATE/DROP DATABASE "
        "(default: %(default)s, or $BENCH_POSTGRESQL_URL)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=_setting,
        metavar="NAME=VALUE",
        help="a setting for the services under test, e.g. AUTHSERVER_RATELIMIT_ENABLED=false "
        "(to compare one setting's cost; the environment's own are not passed on)",
    )
    parser.add_argument("--duration", type=parse_duration, default=parse_duration("10s"))
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=3,
        help="rounds; each round runs every endpoint once, the table shows medians "
        "(default: %(default)s)",
    )
    parser.add_argument("--connections", type=_positive, default=16)
    parser.add_argument(
        "--threads", type=_positive, default=None, help="wrk threads (default: cores, max 4)"
    )
    parser.add_argument(
        "--codes",
        type=int,
        default=0,
        help="authorization codes to prepare (default: sized from the client_credentials run)",
    )
    parser.add_argument("--driver", choices=("auto", "wrk", "asyncio"), default="auto")
    selection = parser.add_mutually_exclusive_group()
    selection.add_argument("--only", type=_endpoint_list, help="comma-separated endpoint keys")
    selection.add_argument(
        "--all", action="store_true", help="every endpoint, not only those with a target"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.threads is None:
        args.threads = max(1, min(os.cpu_count() or 1, 4))
    args.threads = min(args.threads, args.connections)
    selected = args.only or (list(ENDPOINTS) if args.all else DEFAULT_ENDPOINTS)
    # Ratios need their baseline (and floor) measured in the same round.
    needed = {ENDPOINTS[key].baseline for key in selected} | {
        ENDPOINTS[key].floor for key in selected
    }
    needed -= {None}
    args.endpoints = [key for key in ENDPOINTS if key in selected or key in needed]
    return args


def codes_needed(args: argparse.Namespace, measured: dict[str, Result]) -> int:
    """Enough codes for the redemption run: 1.5x the client_credentials rate, or a guess."""
    if args.codes > 0:
        return args.codes
    rate = measured["client_credentials"].ok_rps if "client_credentials" in measured else 300.0
    return min(100_000, max(200, math.ceil(rate * args.duration * 1.5) + 4 * args.connections))


def proofs_needed(args: argparse.Namespace, measured: dict[str, Result], bearer_row: str) -> int:
    """Enough DPoP proofs for a run: twice what its bearer row managed, or a guess."""
    if args.duration > dpop.USABLE_SECONDS:
        _log(f"DPoP rows: proofs older than a minute fail; --duration over {dpop.USABLE_SECONDS}s")
    rate = measured[bearer_row].ok_rps if bearer_row in measured else 1000.0
    return min(200_000, max(500, math.ceil(rate * args.duration * 2) + 4 * args.connections))


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Context:
    urls: dict[str, str]
    credentials: dict
    browser: Browser
    basic: str
    rs_basic: str
    prover: dpop.Prover = field(default_factory=dpop.Prover)


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def make_endpoint(
    key: str, ctx: Context, args: argparse.Namespace, measured: dict[str, Result]
) -> Endpoint:
    """The request for ``key``, with fresh single-use material (made right before its run)."""
    name, baseline = ENDPOINTS[key].name, ENDPOINTS[key].baseline
    baseline_name = ENDPOINTS[baseline].name if baseline else None
    auth = {"Authorization": ctx.basic, **FORM}
    redirect = form_encode(ctx.credentials["redirect_uri"])

    def access_tokens(count: int = 16) -> list[str]:
        return [response["access_token"] for response in ctx.browser.tokens(count)]

    def endpoint(service: str, method: str, path: str, **kw: object) -> Endpoint:
        return Endpoint(name, service, method, path, baseline=baseline_name, **kw)  # type: ignore[arg-type]

    if key == "hello":
        return endpoint("baseline", "GET", "/hello")
    if key == "insert":
        return endpoint("baseline", "POST", "/insert", headers=FORM, body="name=bench")
    if key == "read":
        return endpoint("baseline", "GET", "/read")
    if key == "client_credentials":
        body = "grant_type=client_credentials&scope=events%3Aread"
        return endpoint("auth", "POST", "/oauth/token", headers=auth, body=body)
    if key == "authorization_code":
        count = codes_needed(args, measured)
        _log(f"collecting {count} authorization codes ...")
        started = time.monotonic()
        codes = ctx.browser.codes(count)
        _log(f"... in {time.monotonic() - started:.1f}s")
        body = f"grant_type=authorization_code&code={{item}}&redirect_uri={redirect}"
        return endpoint(
            "auth",
            "POST",
            "/oauth/token",
            headers=auth,
            body=body,
            kind="pop",
            items=[form_encode(code) for code in codes],
        )
    if key == "refresh_token":
        # A few chains per connection: each answer's refresh_token is the next request's.
        responses = ctx.browser.tokens(4 * args.connections)
        return endpoint(
            "auth",
            "POST",
            "/oauth/token",
            headers=auth,
            body="grant_type=refresh_token&refresh_token={item}",
            kind="chain",
            items=[form_encode(response["refresh_token"]) for response in responses],
            chain_field="refresh_token",
        )
    if key == "introspect":
        return endpoint(
            "auth",
            "POST",
            "/oauth/introspect",
            headers={"Authorization": ctx.rs_basic, **FORM},
            body="token={item}&token_type_hint=access_token",
            kind="cycle",
            items=[form_encode(token) for token in access_tokens()],
        )
    if key == "jwks":
        return endpoint("auth", "GET", "/oauth/jwks")
    if key == "discovery":
        return endpoint("auth", "GET", "/.well-known/openid-configuration")
    if key == "client_credentials_dpop":
        count = proofs_needed(args, measured, "client_credentials")
        url = f"{ctx.urls['auth']}/oauth/token"
        return endpoint(
            "auth",
            "POST",
            "/oauth/token",
            headers={**auth, "DPoP": "{item}"},
            body="grant_type=client_credentials&scope=events%3Aread",
            kind="pop",
            items=ctx.prover.proofs(count, "POST", url),
        )
    if key == "api_events_dpop":
        # One bound token (the API remembers a verified token either way); a proof per request.
        code = ctx.browser.codes(1)[0]
        token_url = f"{ctx.urls['auth']}/oauth/token"
        token = ctx.browser.exchange(code, ctx.prover.proof("POST", token_url))["access_token"]
        count = proofs_needed(args, measured, "api_events")
        url = f"{ctx.urls['api']}/api/events"  # htu: the query is no part of it (RFC 9449 §4.3)
        return endpoint(
            "api",
            "GET",
            "/api/events?limit=1",
            headers={"Authorization": f"DPoP {token}", "DPoP": "{item}"},
            kind="pop",
            items=ctx.prover.proofs(count, "GET", url, token),
        )
    if key in ("api_me", "api_events"):
        # One event: the list's fixed costs (token, query), not the JSON of a long page.
        path = "/api/me" if key == "api_me" else "/api/events?limit=1"
        return endpoint(
            "api",
            "GET",
            path,
            headers={"Authorization": "Bearer {item}"},
            kind="cycle",
            items=access_tokens(),
        )
    raise KeyError(key)


def measure_in_rounds(
    keys: list[str], repeat: int, run_once: Callable[[str, int], tuple[Result, str]]
) -> dict[str, Row]:
    """Each endpoint's runs: ``repeat`` rounds, each running every endpoint once in table order.

    Rounds rather than N runs in a row, so that a busy moment of the machine (other work on its
    cores) falls on an endpoint and on its baseline alike.
    """
    rows = {
        key: Row(
            ENDPOINTS[key].name,
            baseline=ENDPOINTS[baseline].name if (baseline := ENDPOINTS[key].baseline) else None,
            target=ENDPOINTS[key].target,
            floor=ENDPOINTS[floor].name if (floor := ENDPOINTS[key].floor) else None,
        )
        for key in keys
    }
    for round_number in range(1, repeat + 1):
        for key in keys:
            result, note = run_once(key, round_number)
            row = rows[key]
            row.runs.append(result)
            if note:
                row.note = "; ".join(filter(None, [row.note, f"round {round_number}: {note}"]))
    return rows


def settings_line(args: argparse.Namespace, driver: str, gunicorn: dict) -> str:
    from importlib.metadata import version

    return (
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()} | database: {args.db} | "
        f"gunicorn {version('gunicorn')}: {gunicorn['workers']} {gunicorn['worker_class']} "
        f"workers per service (scripts/gunicorn.conf.py, as make serve), no access log | "
        f"load: {driver}, {args.threads} threads, {args.connections} connections, "
        f"{args.duration:g}s per run, {args.repeat} round(s), all on this machine"
    )


def run(args: argparse.Namespace) -> int:
    from .services import Stack, gunicorn_settings

    driver_path = None
    if args.driver in ("auto", "wrk"):
        driver_path = wrk.find_wrk(install=True, log=_log)
        if driver_path is None and args.driver == "wrk":
            _log("wrk is not available")
            return 2
        if driver_path is None:
            _log("falling back to the asyncio load generator (bench/loadgen.py)")
    if driver_path:
        wrk_version = subprocess.run(  # noqa: S603
            [driver_path, "--version"], capture_output=True, text=True, check=False
        ).stdout.split()
        driver = f"wrk {wrk_version[1] if len(wrk_version) > 1 else ''}".strip()
    else:
        driver = "asyncio (bench/loadgen.py)"
    gunicorn = gunicorn_settings()

    started = time.monotonic()
    stack = Stack(
        db_kind=args.db, postgresql_url=args.postgresql_url, log=_log, settings=dict(args.set)
    )
    rows: dict[str, Row] = {}
    measured: dict[str, Result] = {}  # each endpoint's latest run
    try:
        stack.configure()
        _log(f"migrating and seeding ({args.db}) in {stack.workdir}")
        credentials = stack.migrate_and_seed(SCOPES, REDIRECT_URI)
        stack.start()
        browser = Browser(stack.urls["auth"], credentials, SCOPES)
        browser.login_and_consent()
        ctx = Context(
            urls=stack.urls,
            credentials=credentials,
            browser=browser,
            basic=_basic(credentials["client_id"], credentials["client_secret"]),
            rs_basic=_basic(credentials["rs_client_id"], credentials["rs_client_secret"]),
        )
        create_events(stack.urls["api"], browser.tokens(1)[0]["access_token"], 20)

        def run_once(key: str, round_number: int) -> tuple[Result, str]:
            endpoint = make_endpoint(key, ctx, args, measured)
            _log(
                f"round {round_number}/{args.repeat}: {endpoint.name}: {args.duration:g}s, "
                f"{args.connections} connections"
            )
            base_url = stack.urls[endpoint.service]
            if driver_path:
                result = wrk.run(
                    driver_path,
                    endpoint,
                    base_url,
                    stack.workdir,
                    args.duration,
                    args.connections,
                    args.threads,
                )
            else:
                result = loadgen.run(endpoint, base_url, args.duration, args.connections)
            measured[key] = result
            return result, _note(result, endpoint)

        rows = measure_in_rounds(args.endpoints, args.repeat, run_once)
    finally:
        # A second Ctrl-C must not leave half of the cleanup undone.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _STOP_SIGNALS}
        try:
            stack.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    header = settings_line(args, driver, gunicorn)
    table = list(rows.values())
    print(format_table(table, header))
    elapsed = time.monotonic() - started
    print(
        f"\nwhole run: {elapsed:.0f}s (setup, material, {len(table)} endpoints x "
        f"{args.repeat} round(s), teardown)"
    )
    if args.json:
        settings = {
            "line": header,
            "cores": os.cpu_count(),
            "db": args.db,
            "driver": driver,
            "gunicorn": gunicorn,
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "repeat": args.repeat,
            "elapsed_s": elapsed,
        }
        write_json(args.json, table, settings)
        _log(f"wrote {args.json}")
    return 0


def _note(result: Result, endpoint: Endpoint) -> str:
    notes = []
    if result.exhausted:
        notes.append(
            f"ran out of its {len(endpoint.items)} prepared codes before the time was up "
            "(raise --codes); with wrk its req/s then understates"
        )
    if result.starved:
        notes.append(f"{result.starved} requests had no refresh token left to chain")
    if result.errors:
        notes.append(f"{result.errors} socket errors or timeouts")
    return "; ".join(notes)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith(("AUTHSERVER_", "RESOURCE_API_")):
        raise argparse.ArgumentTypeError(
            f"expected AUTHSERVER_…=VALUE or RESOURCE_API_…=VALUE: {text!r}"
        )
    return name, value


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--in-process" in argv:
        from . import in_process

        argv.remove("--in-process")
        in_process.main(argv)
        return 0
    args = parse_args(argv)
    handlers: dict[int, Callable | int | None] = {}
    for signum in _STOP_SIGNALS:
        handlers[signum] = signal.signal(signum, _raise_interrupt)
    try:
        return run(args)
    except KeyboardInterrupt:
        _log("interrupted: everything was stopped and removed")
        return 130
    except RuntimeError as error:  # our own failures: a service or a step said why
        _log(f"failed (everything was stopped and removed): {error}")
        return 1
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
