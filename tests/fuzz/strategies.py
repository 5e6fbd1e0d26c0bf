"""Hypothesis strategies for hostile input, and the request wrapper every fuzz test goes through.

The junk is what a careless or hostile client sends: NUL and other control characters, very long
strings, huge digit strings, bytes that are not UTF-8, repeated parameters, JSON of any shape,
and JWT-shaped strings whose parts decode to JSON arrays, numbers or garbage.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote_from_bytes

import sqlalchemy as sa
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

#: ``FUZZ_EXAMPLES=500 pytest tests/fuzz`` for a longer hunt; CI runs the default.
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def fuzz_settings(max_examples: int) -> settings:
    """Bounded and reproducible: the same examples on every run (derandomize), no example
    database written into the repository, no deadline (PostgreSQL and bcrypt are slow at times).
    One app and test client serve all examples of a test, hence function_scoped_fixture."""
    return settings(
        max_examples=max(1, int(max_examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


# -- text ------------------------------------------------------------------------------------

CONTROL = st.characters(max_codepoint=0x1F) | st.sampled_from(
    ["\x7f", "\x85", "\xa0", "\u2028", "\u2029", "\ufeff", "\u200b", "\ufffd"]
)
#: Strings that have broken parsers before: NUL, numbers of every size, JSON-ish, percent-ish.
SPECIAL = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\t",
        "\r\n",
        "%00",
        "%",
        "%zz",
        "null",
        "true",
        "[]",
        "{}",
        '{"a": 1}',
        "[1, 2]",
        "0",
        "-1",
        "-0",
        "1e999",
        "NaN",
        "Infinity",
        "0x10",
        "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() says yes, int() agrees, SQL may not
        "²",  # isdigit() True, int() fails
        "2147483648",
        "9223372036854775808",
        "18446744073709551616",
        "..",
        "../",
        "//evil.example",
        "http://evil.example/",
        "javascript:alert(1)",
        "<script>",
        "'; DROP TABLE users; --",
        "a" * 64,
        "a" * 65,
        "a" * 256,
    ]
)
long_text = st.builds(
    lambda chunk, n: chunk * n,
    st.sampled_from(["A", "9", "\x00", "é", "%", " ", "a b", "\u2028"]),
    st.integers(300, 70_000),
)
huge_digits = st.integers(300, 6000).map(lambda n: "9" * n)
junk_text = st.one_of(
    SPECIAL,
    st.text(max_size=30),
    st.text(CONTROL | st.characters(max_codepoint=0x7F), max_size=30),
    long_text,
    huge_digits,
    st.integers(-(2**70), 2**70).map(str),
)
#: Not valid UTF-8 (mostly): what a client sends when it does not encode text at all.
junk_bytes = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"a\x80b", b"\xfe\xff\x00a"]),
)
junk_value = junk_text | junk_bytes
#: Parameter names: the real ones usually, junk now and then.
junk_name = st.text(max_size=12) | junk_bytes
#: Header values as a WSGI server hands them over: latin-1 text (any byte), no CR or LF.
header_text = st.one_of(
    SPECIAL.filter(lambda s: "\r" not in s and "\n" not in s and s.isascii()),
    st.text(st.characters(max_codepoint=0xFF, exclude_characters="\r\n"), max_size=60),
    st.integers(100, 9000).map(lambda n: "A" * n),
)


def plausible(*values: Any) -> st.SearchStrategy:
    """One of ``values`` (the real thing, to get past the first checks) or junk."""
    return st.sampled_from(values) | junk_value if values else junk_value


# -- JSON ------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    junk_text.filter(lambda s: len(s) < 2000),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10) | SPECIAL, children, max_size=4)
    ),
    max_leaves=12,
)
#: JSON bodies that json.dumps cannot make: deep nesting, huge numbers, bad escapes, NaN.
raw_json_junk = st.sampled_from(
    [
        b"[" * 5000,
        b'{"a":' * 3000,
        b"9" * 5000,
        b"-" + b"9" * 5000,
        b"1e99999",
        b"NaN",
        b'"\\ud800"',
        b'{"a": "\\u0000"}',
        b'{"a": 1, "a": 2}',
        b"\xff\xfe{}",
        b"",
        b"null",
        b"{",
        b'{"redirect_uris": "\\u0000"}',
    ]
)


def json_body(objects: st.SearchStrategy | None = None) -> st.SearchStrategy[bytes]:
    """A request body claimed to be JSON: ``objects`` dumped, any JSON value, or raw junk."""
    shapes = [json_values.map(_dumps), raw_json_junk, junk_bytes]
    if objects is not None:
        shapes.insert(0, objects.map(_dumps))
    return st.one_of(*shapes)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


# -- tokens and credentials ------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


jose_header = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["RS256", "none", "HS256", "ES256"]) | json_values},
        optional={
            "kid": st.text(max_size=10) | json_values,
            "typ": st.sampled_from(["JWT", "at+jwt", "application/at+jwt"]) | json_values,
            "crit": json_values,
            "b64": json_values,
            "jku": st.just("http://evil.example/jwks"),
            "jwk": json_values,
        },
    ),
)
segment = st.one_of(
    json_values.map(lambda v: b64url(_dumps(v))),
    junk_bytes.map(b64url),
    st.text(max_size=20),
    st.sampled_from(["", "=", "e30", "W10", "MQ", "bnVsbA", "!!!", "eyJ", "A" * 9000]),
)
#: Three dot-separated parts that look like a JWT, with anything inside.
jwt_shaped = st.one_of(
    st.builds(
        lambda h, p, s: f"{b64url(_dumps(h))}.{b64url(_dumps(p))}.{b64url(s)}",
        jose_header,
        json_values,
        st.binary(max_size=40),
    ),
    st.lists(segment, min_size=1, max_size=6).map(".".join),
)
token_junk = jwt_shaped | junk_text


def bearer_header(*real_tokens: str) -> st.SearchStrategy[str]:
    token = st.sampled_from(real_tokens) | token_junk if real_tokens else token_junk
    return st.one_of(
        token.map(lambda t: f"Bearer {t}"),
        st.builds(
            lambda scheme, t: f"{scheme}{t}",
            st.sampled_from(["bearer ", "BEARER  ", "Bearer\t", "Bearer", "Bearer  "]),
            token,
        ),
        header_text,
    ).filter(_latin1_without_newlines)


def basic_header(*credentials: tuple[str, str]) -> st.SearchStrategy[str]:
    """HTTP Basic with real credentials, junk ones (TAB, colon, non-UTF-8) or junk base64."""
    part = junk_value | st.sampled_from([b"\t", b":", b"a:b", b"%", b"%00", b"%ff"])
    pairs = st.tuples(part, part)
    if credentials:
        pairs = st.sampled_from(credentials) | pairs
    return st.one_of(
        pairs.map(lambda p: "Basic " + base64.b64encode(_b(p[0]) + b":" + _b(p[1])).decode()),
        junk_bytes.map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
        header_text.map(lambda s: "Basic " + s),
        st.sampled_from(["Basic", "Basic ", "Basic =", "Basic ====", "Basic\tYTpi", "basic YTpi"]),
    ).filter(_latin1_without_newlines)


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _latin1_without_newlines(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return "\r" not in value and "\n" not in value


# -- parameters and bodies -------------------------------------------------------------------


@st.composite
def pairs(draw: st.DrawFn, fields: dict[str, st.SearchStrategy]) -> list[tuple[Any, Any]]:
    """Form or query pairs: each known field absent, once (usually) or repeated, with a real or
    junk value; then perhaps some junk pairs."""
    result: list[tuple[Any, Any]] = []
    for name, values in fields.items():
        for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
            result.append((name, draw(values)))
    result += draw(st.lists(st.tuples(junk_name, junk_value), max_size=2))
    return result


def encode_pairs(items: Iterable[tuple[Any, Any]]) -> bytes:
    """``application/x-www-form-urlencoded`` of arbitrary str or bytes pairs, byte for byte."""
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in items).encode("ascii")


def _quote(value: str | bytes) -> str:
    return quote_from_bytes(_b(value), safe="")


def query_of(items: list[tuple[Any, Any]]) -> bytes:
    return encode_pairs(items)


form_content_type = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/x-www-form-urlencoded; charset=\x00",
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
        "application/x-www-form-urlencoded, application/json",
    ]
) | header_text.filter(_latin1_without_newlines)


@st.composite
def form_body(draw: st.DrawFn, fields: dict[str, st.SearchStrategy]) -> tuple[bytes, str | None]:
    """A body and its Content-Type: usually a form of ``fields``, sometimes junk of any kind."""
    kind = draw(st.sampled_from(["form", "form", "form", "form", "raw", "json"]))
    if kind == "form":
        body = encode_pairs(draw(pairs(fields)))
        content_type = draw(
            st.just("application/x-www-form-urlencoded") | form_content_type | st.none()
        )
    elif kind == "json":
        body = draw(json_body())
        content_type = "application/json"
    else:
        body = draw(junk_bytes | long_text.map(str.encode))
        content_type = draw(form_content_type | st.none())
    return body, content_type


def path_segment(*real: str) -> st.SearchStrategy[str]:
    """A path segment, percent-encoded: a real id, junk text, or junk bytes."""
    junk = (junk_text.filter(lambda s: len(s) < 3000) | junk_bytes).map(_quote)
    return st.sampled_from(real) | junk if real else junk


# -- requests --------------------------------------------------------------------------------


def table_digests(connection: sa.Connection, tables: Iterable[sa.Table]) -> dict[str, str]:
    """A cheap fingerprint of every table: a hash of all its rows in primary-key order."""
    digests = {}
    for table in tables:
        rows = connection.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
        digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def send(
    http: Any,
    snapshot: Callable[[], dict[str, str]],
    method: str,
    path: str,
    *,
    query: bytes = b"",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
    allow_change: bool = False,
) -> TestResponse:
    """Send one request; fail on a 5xx (or an exception escaping the app), and on any table
    changed by a request that was refused with a 4xx (unless ``allow_change``: a refusal the
    contract says has effects)."""
    headers = {k: v for k, v in (headers or {}).items() if v is not None}
    if content_type is not None:
        headers["Content-Type"] = content_type
    description = _describe(method, path, query, headers, body)
    note(description)
    before = snapshot()
    try:
        response = http.open(
            path,
            method=method,
            query_string=query.decode("ascii"),
            data=body,
            headers=headers,
        )
    except Exception as error:
        # TESTING propagates exceptions: in production this is a 500.
        error.add_note(f"5xx: the server raised {type(error).__name__} on {description}")
        raise
    assert response.status_code < 500, f"{response.status_code} on {description}"
    if 400 <= response.status_code < 500 and not allow_change:
        after = snapshot()
        changed = sorted(name for name in before if before[name] != after[name])
        assert not changed, f"refused ({response.status_code}) but changed {changed}: {description}"
    return response


def _describe(
    method: str, path: str, query: bytes, headers: dict[str, str], body: bytes | None
) -> str:
    url = path + ("?" + query.decode("ascii") if query else "")
    shown = body if body is None or len(body) <= 300 else body[:300] + b"...(%d bytes)" % len(body)
    if len(url) > 400:
        url = url[:400] + f"...({len(url)} chars)"
    short_headers = {k: (v if len(v) <= 200 else v[:200] + "...") for k, v in headers.items()}
    return f"{method} {url} headers={short_headers!r} body={shown!r}"
