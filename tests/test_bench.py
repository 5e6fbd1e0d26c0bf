"""The benchmark harness's pure pieces: no servers, no load (``python -m bench`` does that)."""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess

import pytest

from bench import cli, loadgen, wrk
from bench.baseline import create_app
from bench.endpoints import Endpoint, form_encode
from bench.report import Result, Row, format_table

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
    assert args.endpoints == list(cli.ENDPOINTS)

    args = cli.parse_args(
        ["--db", "postgresql", "--duration", "500ms", "--connections", "4", "--threads", "8"]
    )
    assert args.db == "postgresql"
    assert args.duration == 0.5
    assert args.threads == 4  # never more threads than connections


def test_only_adds_the_baselines_its_ratios_need() -> None:
    args = cli.parse_args(["--only", "jwks,refresh_token"])
    assert args.endpoints == ["hello", "insert", "refresh_token", "jwks"]


@pytest.mark.parametrize("bad", ["--duration=0", "--duration=ten", "--only=nope", "--db=mysql"])
def test_bad_arguments_exit(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args([bad])
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

    assert "cursor % #items + 1" in wrk.generate_lua(cycle, "items/z.%d.items")
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


def test_table() -> None:
    rows = [
        Row("GET /hello (bare Flask)", Result(30000, 10.0, 3000.0, 5.0, 12.0)),
        Row("POST /insert (bare Flask)", Result(2000, 10.0, 200.0, 70.0, 130.0)),
        Row(
            "POST /oauth/token client_credentials",
            Result(1100, 10.0, 110.0, 140.0, 200.0, non2xx=100),
            baseline="POST /insert (bare Flask)",
        ),
        Row("GET /oauth/jwks", Result(9000, 10.0, 900.0, 15.0, 40.0), "GET /hello (bare Flask)"),
        Row("GET /api/me", None, "GET /hello (bare Flask)", note="failed"),
    ]
    table = format_table(rows, "machine: 2 cores")
    lines = table.splitlines()
    assert lines[0] == "machine: 2 cores"
    assert "endpoint" in lines[2] and "req/s" in lines[2] and "non-2xx" in lines[2]
    token = next(line for line in lines if "client_credentials" in line)
    # 1000 good answers in 10 s against the baseline's 200 req/s; failures are not throughput.
    assert "100.0" in token and "0.50 x /insert" in token and "100!" in token
    jwks = next(line for line in lines if line.startswith("GET /oauth/jwks"))
    assert "0.30 x /hello" in jwks and "15.0ms" in jwks
    assert "GET /api/me: failed" in table
    assert not math.isnan(rows[0].result.ok_rps)


def test_baseline_app(tmp_path) -> None:
    from bench import baseline

    url = f"sqlite:///{tmp_path / 'baseline.sqlite3'}"
    baseline.create_schema(url)
    client = create_app(url).test_client()
    assert client.get("/hello").get_json() == {"hello": "world"}
    response = client.post("/insert", data={"name": "x"})
    assert response.status_code == 201 and response.get_json() == {"id": 1}
