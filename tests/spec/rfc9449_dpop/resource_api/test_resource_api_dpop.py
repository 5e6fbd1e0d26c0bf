"""RFC 9449 §7 at the resource API: a token bound to a key (``cnf.jkt``) only as
``Authorization: DPoP`` with a fresh, unused proof of that key for this request and token."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.resource_api.api_testing import AUDIENCE, REALM

from ..proofs import jkt, key, proof

EVENTS = f"{AUDIENCE}/api/events"
DPOP_ALGS = 'algs="ES256 RS256 PS256 EdDSA"'


@pytest.fixture
def bound_token(make_token) -> str:
    return make_token(cnf={"jkt": jkt(key())})


def dpop_headers(token: str, dpop: str | None, scheme: str = "DPoP") -> dict[str, str]:
    headers = {"Authorization": f"{scheme} {token}"}
    if dpop is not None:
        headers["DPoP"] = dpop
    return headers


def good_proof(clock, token: str, **options) -> str:
    options.setdefault("iat", clock())
    return proof("GET", EVENTS, access_token=token, **options)


def assert_dpop_refusal(response, error: str = "invalid_dpop_proof") -> str:
    assert response.status_code == 401, response.data
    assert response.get_json()["error"] == error
    challenge = response.headers["WWW-Authenticate"]
    assert f'realm="{REALM}"' in challenge and DPOP_ALGS in challenge
    return challenge


def test_a_bound_token_with_its_proof_is_accepted(client, clock, bound_token) -> None:
    response = client.get(
        "/api/events", headers=dpop_headers(bound_token, good_proof(clock, bound_token))
    )
    assert response.status_code == 200, response.data


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA"])
def test_every_advertised_algorithm_works(client, clock, make_token, alg) -> None:
    token = make_token(cnf={"jkt": jkt(key(alg))})
    dpop = good_proof(clock, token, alg=alg)
    assert client.get("/api/events", headers=dpop_headers(token, dpop)).status_code == 200


def test_a_bound_token_sent_as_bearer_is_refused(client, clock, bound_token) -> None:
    """§7.2: a DPoP-bound token is no bearer token, even with a valid proof beside it."""
    headers = dpop_headers(bound_token, good_proof(clock, bound_token), scheme="Bearer")
    response = client.get("/api/events", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert DPOP_ALGS in response.headers["WWW-Authenticate"]


def test_a_bearer_token_under_the_dpop_scheme_is_refused(client, clock, token) -> None:
    response = client.get("/api/events", headers=dpop_headers(token, good_proof(clock, token)))
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


BAD = {
    "no proof": lambda clock, token: None,
    "wrong ath": lambda clock, token: good_proof(clock, "another-token"),
    "no ath": lambda clock, token: proof("GET", EVENTS, iat=clock()),
    "other key": lambda clock, token: good_proof(clock, token, private=key("ES256", "other")),
    "wrong htm": lambda clock, token: proof("POST", EVENTS, iat=clock(), access_token=token),
    "wrong htu": lambda clock, token: proof(
        "GET", f"{AUDIENCE}/api/me", iat=clock(), access_token=token
    ),
    "stale iat": lambda clock, token: good_proof(clock, token, iat=clock() - 120),
    "future iat": lambda clock, token: good_proof(clock, token, iat=clock() + 120),
    "bad typ": lambda clock, token: good_proof(clock, token, header={"typ": "jwt"}),
    "private key in jwk": lambda clock, token: good_proof(
        clock, token, header={"jwk": dict(key().as_dict(private=True))}
    ),
    "garbage": lambda clock, token: "a.b.c",
}


@pytest.mark.parametrize("make", BAD.values(), ids=BAD.keys())
def test_a_bad_proof_is_refused_with_a_dpop_challenge(client, clock, bound_token, make) -> None:
    response = client.get(
        "/api/events", headers=dpop_headers(bound_token, make(clock, bound_token))
    )
    challenge = assert_dpop_refusal(response)
    assert challenge.startswith('DPoP error="invalid_dpop_proof"')


def test_a_replayed_proof_is_refused(client, clock, bound_token) -> None:
    """§11.1: the API remembers each proof (in its database, for every worker) until it is too
    old to pass anyway."""
    dpop = good_proof(clock, bound_token)
    assert client.get("/api/events", headers=dpop_headers(bound_token, dpop)).status_code == 200
    assert_dpop_refusal(client.get("/api/events", headers=dpop_headers(bound_token, dpop)))


def test_a_replay_to_another_worker_is_refused(make_app, clock, bound_token) -> None:
    """Two apps on one database stand for two workers: the replay store is shared."""
    dpop = good_proof(clock, bound_token)
    first, second = make_app().test_client(), make_app().test_client()
    assert first.get("/api/events", headers=dpop_headers(bound_token, dpop)).status_code == 200
    assert_dpop_refusal(second.get("/api/events", headers=dpop_headers(bound_token, dpop)))


def test_a_write_needs_its_own_proof(client, clock, bound_token) -> None:
    body = {
        "title": "Standup",
        "starts_at": "2026-02-02T09:00:00Z",
        "ends_at": "2026-02-02T09:15:00Z",
    }
    read_proof = good_proof(clock, bound_token)
    refused = client.post("/api/events", json=body, headers=dpop_headers(bound_token, read_proof))
    assert_dpop_refusal(refused)
    write_proof = proof("POST", EVENTS, iat=clock(), access_token=bound_token)
    created = client.post("/api/events", json=body, headers=dpop_headers(bound_token, write_proof))
    assert created.status_code == 201, created.data


def test_every_401_offers_both_schemes(client) -> None:
    challenge = client.get("/api/events").headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{REALM}"')
    assert challenge.endswith(f"DPoP {DPOP_ALGS}")


def test_cors_lets_browsers_send_the_dpop_header(make_app) -> None:
    origin = "https://spa.example"
    api = make_app(CORS_ORIGINS=frozenset({origin})).test_client()
    preflight = api.options(
        "/api/events",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, dpop",
        },
    )
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "dpop" in allowed.split(", ")


def test_one_proof_sent_at_once_is_honoured_once(make_app, clock, bound_token) -> None:
    """Several workers (apps on one database) get the same proof at the same moment: the
    primary key of ``dpop_proofs`` lets one through."""
    dpop = good_proof(clock, bound_token)
    apps = [make_app() for _ in range(4)]
    barrier = threading.Barrier(4)

    def send(index: int) -> int:
        http = apps[index].test_client()
        barrier.wait()
        return http.get("/api/events", headers=dpop_headers(bound_token, dpop)).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(send, range(4)))
    assert statuses == [200, 401, 401, 401], statuses
