"""The benchmark harness's pure pieces: no servers, no load (``python -m bench`` does that)."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import time

import pytest

import dpopproof
from bench import cli, loadgen, wrk
from bench.baseline import create_app
from bench.endpoints import Endpoint, form_encode
from bench.report import (
    MET,
    SHORT,
    Result,
    Row,
    format_table,
    ratio,
    shortfalls,
    verdict,
    write_json,
)
from bench.targets import DEFAULT_ENDPOINTS, ENDPOINTS, Target

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:40001/oauth/token
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    98.12ms   20.31ms 301.50ms   75.00%
    Req/Sec    81.20     20.11   130.00     70.00%
  Latency Distribution
     50%   95.50ms
     75%  110.00ms
     90%  125.00ms
     99%  180.25ms
  1612 requests in 10.01s, 1.20MB read
  Non-2xx or 3xx responses: 12
Requests/sec:    161.04
Transfer/sec:    122.50KB
"""

BENCH_LINE = (
    'BENCH_RESULT {"requests": 1612, "duration_us": 10010000, "non2xx": 12, '
    '"socket_errors": 1, "timeouts": 0, "exhausted_threads": 1, "starved": 0, '
    '"p50_us": 95500, "p99_us": 180250, "threads": 2}\n'
)


def test_defaults_and_options() -> None:
    args = cli.parse_args([])
    assert args.db == "sqlite"
    assert args.duration == 10
    assert args.connections == 16
    assert args.repeat == 3
    assert args.endpoints == DEFAULT_ENDPOINTS
    assert cli.parse_args(["--all"]).endpoints == list(ENDPOINTS)
    assert cli.parse_args(["--repeat", "1"]).repeat == 1

    args = cli.parse_args(
        ["--db", "postgresql", "--duration", "500ms", "--connections", "4", "--threads", "8"]
    )
    assert args.db == "postgresql"
    assert args.duration == 0.5
    assert args.threads == 4  # never more threads than connections


def test_only_adds_the_baselines_its_ratios_need() -> None:
    args = cli.parse_args(["--only", "jwks,refresh_token"])
    assert args.endpoints == ["hello", "insert", "jwks", "refresh_token"]
    assert cli.parse_args(["--only", "api_me"]).endpoints == ["hello", "api_me"]


def test_the_default_table_is_the_issues_with_its_targets() -> None:
    """Issue 15's table: the two baselines and the one-read floor, then four endpoints each
    held to a ratio."""
    assert DEFAULT_ENDPOINTS == [
        "hello",
        "insert",
        "read",
        "client_credentials",
        "introspect",
        "jwks",
        "api_events",
    ]
    targets = {key: (ENDPOINTS[key].baseline, ENDPOINTS[key].target) for key in DEFAULT_ENDPOINTS}
    assert targets == {
        "hello": (None, None),
        "insert": (None, None),
        "read": (None, None),
        "client_credentials": ("insert", Target(0.7, p99_ms=25)),
        "introspect": ("hello", Target(0.5)),
        "jwks": ("hello", Target(0.85)),
        "api_events": ("hello", Target(0.5)),
    }


class _Tokens:
    """Stands in for the logged-in browser: access tokens without a server."""

    def tokens(self, count: int) -> list[dict]:
        return [{"access_token": f"token-{n}", "refresh_token": f"r-{n}"} for n in range(count)]


def test_the_resource_api_row_measures_one_event_per_page() -> None:
    ctx = cli.Context(
        urls={}, credentials={"redirect_uri": "x"}, browser=_Tokens(), basic="", rs_basic=""
    )  # type: ignore[arg-type]
    args = cli.parse_args([])
    endpoint = cli.make_endpoint("api_events", ctx, args, {})
    assert (endpoint.service, endpoint.method, endpoint.path) == (
        "api",
        "GET",
        "/api/events?limit=1",
    )
    assert endpoint.headers == {"Authorization": "Bearer {item}"}
    assert endpoint.items == [f"token-{n}" for n in range(16)]
    assert endpoint.baseline == ENDPOINTS["hello"].name
    introspect = cli.make_endpoint("introspect", ctx, args, {})
    assert introspect.baseline == ENDPOINTS["hello"].name
    assert "token_type_hint=access_token" in introspect.body


def test_the_dpop_token_row_sends_a_fresh_proof_per_request() -> None:
    """Beside the bearer client_credentials row: each request pops its own proof, made for the
    token endpoint's URL, that the server's checker accepts once."""
    ctx = cli.Context(
        urls={"auth": "http://127.0.0.1:9"}, credentials={"redirect_uri": "x"},
        browser=_Tokens(), basic="Basic x", rs_basic="",
    )  # type: ignore[arg-type]  # fmt: skip
    args = cli.parse_args(["--duration=1s", "--connections=2"])
    endpoint = cli.make_endpoint("client_credentials_dpop", ctx, args, {})
    assert endpoint.kind == "pop" and endpoint.headers["DPoP"] == "{item}"
    assert endpoint.baseline == ENDPOINTS["insert"].name
    assert len(set(endpoint.items)) == len(endpoint.items) >= 500
    proof = dpopproof.check_proof(
        endpoint.items[0], method="POST", url="http://127.0.0.1:9/oauth/token",
        now=time.time(), max_age=60, leeway=5,
    )  # fmt: skip
    assert proof.jkt == dpopproof.thumbprint(ctx.prover.header["jwk"])


def test_set_passes_settings_of_the_services_only() -> None:
    args = cli.parse_args(["--set", "RESOURCE_API_LEEWAY=5", "--set", "AUTHSERVER_X=a=b"])
    assert args.set == [("RESOURCE_API_LEEWAY", "5"), ("AUTHSERVER_X", "a=b")]


@pytest.mark.parametrize(
    "bad",
    [
        ["--duration=0"],
        ["--duration=ten"],
        ["--only=nope"],
        ["--db=mysql"],
        ["--repeat=0"],
        ["--all", "--only=jwks"],
        ["--set", "PATH=/tmp"],
        ["--set", "AUTHSERVER_X"],
    ],
)
def test_bad_arguments_exit(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(bad)
    capsys.readouterr()


def test_parse_duration() -> None:
    assert cli.parse_duration("2m") == 120
    assert cli.parse_duration("15") == 15
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_duration("-1s")


def test_codes_are_sized_from_the_client_credentials_rate() -> None:
    args = cli.parse_args(["--duration", "10s"])
    measured = {"client_credentials": Result(1000, 10.0, 100.0, 1.0, 2.0)}
    assert cli.codes_needed(args, measured) == 100 * 10 * 3 // 2 + 4 * 16
    assert cli.codes_needed(cli.parse_args(["--codes", "7"]), measured) == 7


def test_parse_wrk_text_output() -> None:
    result = wrk.parse_output(WRK_OUTPUT)
    assert result.requests == 1612
    assert result.seconds == pytest.approx(10.01)
    assert result.rps == pytest.approx(161.04)
    assert result.p50_ms == pytest.approx(95.5)
    assert result.p99_ms == pytest.approx(180.25)
    assert result.non2xx == 12
    assert result.ok_rps == pytest.approx(1600 / 10.01)


def test_parse_wrk_output_prefers_our_done_line() -> None:
    result = wrk.parse_output(WRK_OUTPUT + BENCH_LINE)
    assert result.non2xx == 12
    assert result.errors == 1
    assert result.exhausted
    assert result.p99_ms == pytest.approx(180.25)


def test_parse_wrk_output_without_a_summary_fails() -> None:
    with pytest.raises(ValueError, match="no summary"):
        wrk.parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def _endpoints() -> list[Endpoint]:
    return [
        Endpoint("hello", "baseline", "GET", "/hello"),
        Endpoint(
            "redeem",
            "auth",
            "POST",
            "/oauth/token",
            headers={"Authorization": "Basic eDp5"},
            body="grant_type=authorization_code&code={item}",
            kind="pop",
            items=["a", "b", "c"],
        ),
        Endpoint(
            "refresh",
            "auth",
            "POST",
            "/oauth/token",
            body="grant_type=refresh_token&refresh_token={item}",
            kind="chain",
            items=["r1", "r2"],
            chain_field="refresh_token",
        ),
        Endpoint(
            "me",
            "api",
            "GET",
            "/api/me",
            headers={"Authorization": "Bearer {item}"},
            kind="cycle",
            items=["t1"],
        ),
    ]


def test_lua_scripts() -> None:
    static, pop, chain, cycle = _endpoints()
    script = wrk.generate_lua(static, None)
    assert 'wrk.path = "/hello"' in script
    assert "function request()" not in script  # wrk's fast path: one prepared request
    assert "BENCH_RESULT" in script

    script = wrk.generate_lua(pop, "items/x.%d.items")
    assert 'local ITEMS = "items/x.%d.items"' in script
    assert "wrk.thread:stop()" in script
    assert 'wrk.headers["Authorization"] = "Basic eDp5"' in script

    script = wrk.generate_lua(chain, "items/y.%d.items")
    assert 'string.match(body, "\\"refresh_token\\"%s*:%s*\\"([^\\"]+)\\"")' in script
    assert "table.insert(items, encode(successor))" in script

    script = wrk.generate_lua(cycle, "items/z.%d.items")
    assert "cursor % #items + 1" in script
    assert "built[cursor] = ready" in script  # each token's request is formatted once
    with pytest.raises(ValueError, match="needs items"):
        wrk.generate_lua(pop, None)


def test_lua_string_escapes() -> None:
    assert wrk.lua_string('a"b\\c\n') == '"a\\"b\\\\c\\10"'


def test_items_are_split_per_thread(tmp_path) -> None:
    _, pop, chain, cycle = _endpoints()
    assert wrk.split_items(pop, 2) == [["a", "c"], ["b"]]
    assert wrk.split_items(cycle, 2) == [["t1"], ["t1"]]
    script = wrk.write_script(chain, tmp_path, 2)
    assert (tmp_path / "refresh.1.items").read_text() == "r1\n"
    assert script.name == "refresh.lua"


@pytest.mark.skipif(shutil.which("luac") is None, reason="luac is not installed")
def test_lua_scripts_compile(tmp_path) -> None:
    for endpoint in _endpoints():
        path = wrk.write_script(endpoint, tmp_path, 2)
        subprocess.run(["luac", "-p", str(path)], check=True)  # noqa: S603, S607


def test_asyncio_feed_matches_the_lua_semantics() -> None:
    _, pop, chain, cycle = _endpoints()
    feed = loadgen._Feed(pop)
    assert sorted(feed.next_item() for _ in range(3)) == ["a", "b", "c"]
    with pytest.raises(LookupError):
        feed.next_item()
    assert feed.exhausted

    feed = loadgen._Feed(chain)
    first, second = feed.next_item(), feed.next_item()
    assert {first, second} == {"r1", "r2"}
    assert feed.next_item() == "starved"
    feed.answered(b'{"access_token": "x", "refresh_token": "n/1"}')
    assert feed.next_item() == form_encode("n/1") == "n%2F1"

    feed = loadgen._Feed(cycle)
    assert [feed.next_item(), feed.next_item()] == ["t1", "t1"]
    assert cycle.render("t1")[1] == {"Authorization": "Bearer t1"}


HELLO = ENDPOINTS["hello"].name
INSERT = ENDPOINTS["insert"].name


def _run(rps: float, p99_ms: float = 10.0, non2xx: int = 0) -> Result:
    # 10 s runs: requests = 2xx answers plus failures.
    return Result(int(rps * 10) + non2xx, 10.0, rps + non2xx / 10, p99_ms / 2, p99_ms, non2xx)


def _row(key: str, *rps: float, p99_ms: float = 10.0) -> Row:
    measured = ENDPOINTS[key]
    baseline = ENDPOINTS[measured.baseline].name if measured.baseline else None
    floor = ENDPOINTS[measured.floor].name if measured.floor else None
    return Row(
        measured.name,
        [_run(r, p99_ms) for r in rps],
        baseline=baseline,
        target=measured.target,
        floor=floor,
    )


def test_rounds_run_every_endpoint_once_each_in_table_order() -> None:
    order = []

    def run_once(key: str, round_number: int) -> tuple[Result, str]:
        order.append((round_number, key))
        return _run(100.0 * round_number), "ran short" if key == "jwks" else ""

    rows = cli.measure_in_rounds(["hello", "jwks"], 2, run_once)
    assert order == [(1, "hello"), (1, "jwks"), (2, "hello"), (2, "jwks")]
    assert [run.ok_rps for run in rows["jwks"].runs] == [100.0, 200.0]
    assert rows["jwks"].baseline == HELLO and rows["jwks"].target == Target(0.85)
    assert rows["jwks"].note == "round 1: ran short; round 2: ran short"


def test_ratio_is_the_median_over_rounds_of_each_rounds_ratio() -> None:
    hello = _row("hello", 1000, 4000, 2000)
    jwks = _row("jwks", 900, 1000, 1900)  # 0.9, 0.25, 0.95 of the same rounds' hello
    by_name = {row.endpoint: row for row in (hello, jwks)}
    assert ratio(jwks, by_name) == pytest.approx(0.9)
    assert jwks.ok_rps == 1000  # the medians shown are each column's own
    assert ratio(hello, by_name) is None
    assert ratio(_row("api_me", 500), {}) is None  # its baseline was not measured


@pytest.mark.parametrize(
    ("token_rps", "p99_ms", "expected"),
    [
        (700, 24.9, MET),  # 0.70 x insert, p99 under 25 ms
        (699, 10.0, SHORT),  # just below the ratio
        (900, 25.0, SHORT),  # fast enough in throughput, but the p99 is not under 25 ms
    ],
)
def test_verdict_needs_the_ratio_and_the_p99(token_rps: float, p99_ms: float, expected) -> None:
    insert = _row("insert", 1000)
    token = _row("client_credentials", token_rps, p99_ms=p99_ms)
    assert verdict(token, {row.endpoint: row for row in (insert, token)}) == expected


def test_rows_without_a_target_or_a_measurement_have_no_verdict() -> None:
    hello = _row("hello", 1000)
    assert verdict(_row("api_me", 900), {HELLO: hello}) is None  # no target
    assert verdict(_row("jwks"), {HELLO: hello}) is None  # never measured


def test_table() -> None:
    rows = [
        _row("hello", 3000, 3000, 3000),
        Row(INSERT, [Result(2000, 10.0, 200.0, 70.0, 130.0)] * 3),
        Row(
            ENDPOINTS["client_credentials"].name,
            [Result(1100, 10.0, 110.0, 140.0, 200.0, non2xx=100)] * 3,
            baseline=INSERT,
            target=ENDPOINTS["client_credentials"].target,
        ),
        _row("jwks", 2700, 2600, 2550, p99_ms=40.0),
        _row("api_events", 1400, 1600, 1500),
        Row(ENDPOINTS["api_me"].name, [], HELLO, note="failed"),
    ]
    table = format_table(rows, "machine: 2 cores")
    lines = table.splitlines()
    assert lines[0] == "machine: 2 cores"
    header = lines[2].split()
    assert header == ["endpoint", "req/s", "p50", "p99", "non-2xx", "ratio", "target", "status"]

    token = next(line for line in lines if "client_credentials" in line)
    # 1000 good answers in 10 s against the baseline's 200 req/s; failures are not throughput.
    assert "100.0" in token and "0.50 x /insert" in token and "300!" in token
    assert token.endswith(">= 0.70 x, p99 < 25ms  SHORT")
    jwks = next(line for line in lines if line.startswith("GET /oauth/jwks"))
    assert "0.87 x /hello" in jwks and "40.0ms" in jwks and jwks.endswith(" met")
    events = next(line for line in lines if line.startswith("GET /api/events?limit=1"))
    assert "0.50 x /hello" in events and ">= 0.50 x " in events and events.endswith(" met")
    hello = next(line for line in lines if line.startswith("GET /hello"))
    assert "(baseline)" in hello and not hello.endswith(("met", "SHORT"))

    assert "Medians of 0/3 run(s) per endpoint" not in table
    assert "Medians of 3 run(s) per endpoint" in table
    assert "Targets (issue 15): 2 of 3 met." in table
    short = table.split("Short of target:\n", 1)[1].splitlines()[0]
    assert short == (
        "  POST /oauth/token client_credentials: 0.50 x /insert, target >= 0.70 x; "
        "p99 200ms, target < 25ms"
    )
    assert "GET /api/me (resource API): failed" in table
    assert not math.isnan(rows[0].runs[0].ok_rps)


def test_a_shortfall_is_told_beside_its_floor() -> None:
    """Introspection must read the database once: a bare app doing just that bounds it."""
    rows = [
        _row("hello", 4000, 5000, 6000),
        _row("read", 1600, 2000, 2400),
        _row("introspect", 1000, 1000, 1500),
    ]
    short = shortfalls(rows)
    assert short == [
        "POST /oauth/introspect (access token): 0.25 x /hello, target >= 0.50 x"
        " (its floor, /read, reached 0.40 x /hello; this row is 0.62 x /read)"
    ]
    # Without its floor measured, the sentence is the plain one.
    assert shortfalls(rows[::2]) == [
        "POST /oauth/introspect (access token): 0.25 x /hello, target >= 0.50 x"
    ]


def test_only_measures_the_floor_beside_its_row() -> None:
    assert cli.parse_args(["--only", "introspect"]).endpoints == ["hello", "read", "introspect"]


def test_json_has_each_row_with_its_runs_target_and_verdict(tmp_path) -> None:
    rows = [_row("hello", 1000, 1000), _row("jwks", 800, 900)]
    path = tmp_path / "bench.json"
    write_json(path, rows, {"db": "sqlite"})
    data = json.loads(path.read_text())
    assert data["settings"] == {"db": "sqlite"}
    jwks = data["results"][1]
    assert jwks["ratio"] == pytest.approx(0.85)
    assert jwks["target"] == {"ratio": 0.85, "p99_ms": None}
    assert jwks["status"] == MET
    assert [run["ok_rps"] for run in jwks["runs"]] == [800, 900]
    assert data["results"][0]["status"] is None


def test_baseline_app(tmp_path) -> None:
    from bench import baseline

    url = f"sqlite:///{tmp_path / 'baseline.sqlite3'}"
    baseline.create_schema(url)
    client = create_app(url).test_client()
    assert client.get("/hello").get_json() == {"hello": "world"}
    assert client.get("/read").get_json() == {"id": 1, "name": "read"}
    response = client.post("/insert", data={"name": "x"})
    assert response.status_code == 201 and response.get_json() == {"id": 2}
    baseline.create_schema(url)  # again: the seeded row is not made twice
    assert client.post("/insert", data={"name": "y"}).get_json() == {"id": 3}
