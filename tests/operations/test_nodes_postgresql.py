"""Several nodes on one PostgreSQL: two real server processes, crossed over real HTTP.

Two gunicorn processes (two workers each), the same ``AUTHSERVER_SECRET_KEY`` and issuer, one
PostgreSQL schema of their own, as behind a load balancer without sticky sessions: a login
made on one node holds on the other, a code issued by one is redeemed on the other, racing
redemptions and refreshes spread over both still yield exactly one winner, throttling counts
are shared (database and Redis), a change made through one node's operator command shows
on the other within AUTHSERVER_CACHE_CHECK_INTERVAL (the caches' version stamps, read that
often), and AUTHSERVER_CLEANUP_INTERVAL cleans up
in every worker. Node 2 runs with ``--preload`` (the app made before gunicorn forks). The
nodes start once per module, with a third and fourth whose throttling counters live in Redis
(when it answers); all are stopped and the schema dropped at the end, whatever happened.

These run against PostgreSQL in every CI pass (a schema of their own), fail in CI when it is
unreachable, and skip elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import redis
import requests
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from authserver import create_app
from authserver.extensions import db
from authserver.models import (
    AccessToken,
    AuditEvent,
    RateLimitCounter,
    RefreshToken,
)
from authserver.services import audit
from authserver.services.keys import new_signing_key
from tests import factories
from tests.databases import (
    IN_CI,
    drop_postgres_schema,
    postgres_url_for_tests,
    required_postgres_schema,
    schema_options,
)
from tests.helpers import csrf_token, pkce_pair, query_of
from tests.processes import ServerProcess, free_port

pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30
TIMEOUT = 10
SECRET_KEY = "nodes-test-secret-" + "n" * 32
#: Seconds within which every worker sees a change made through another node (the default).
CACHE_CHECK_INTERVAL = 1.0
#: Added to that bound before a test gives up: a loaded CI machine answers slowly.
SLACK_SECONDS = 10
WRONG = "not the password at all"


#: A server process of the cluster.
Node = ServerProcess


def stop_nodes(nodes: list[Node]) -> None:
    """SIGINT (gunicorn's quick shutdown) to every node's process group at once, then wait;
    whatever is left after 10 seconds is killed."""
    running = [node for node in nodes if node.process.poll() is None]
    for node in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGINT)
    for node in running:
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait()


@dataclass
class NodeSpec:
    name: str
    env: dict[str, str]
    #: Make the app in gunicorn's master, before it forks the workers.
    preload: bool = False
    workers: int = 2


def start_nodes(specs: list[NodeSpec], workdir: Path) -> list[Node]:
    """Start every node at once, then wait until each answers /readyz (database reachable)."""
    nodes = []
    try:
        for spec in specs:
            options = ["--preload"] if spec.preload else []
            port = free_port()
            log = workdir / f"{spec.name}.log"
            with log.open("w") as out:  # the child keeps its own copy of the descriptor
                process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter, our app
                    [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
                    + ["--workers", str(spec.workers), *options, "authserver:create_app()"],
                    cwd=ROOT,
                    env=spec.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: the workers go with it
                )
            nodes.append(Node(spec.name, f"http://127.0.0.1:{port}", process, log))
        deadline = time.monotonic() + STARTUP_SECONDS
        for node in nodes:
            while True:
                assert node.process.poll() is None, f"{node.name} exited:\n{node.tail()}"
                with contextlib.suppress(requests.RequestException):
                    if requests.get(node.url + "/readyz", timeout=2).status_code == 200:
                        break
                assert time.monotonic() < deadline, f"{node.name} not ready:\n{node.tail()}"
                time.sleep(0.1)
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


@dataclass
class Cluster:
    """Two nodes, and an in-process app on the same schema to set up and inspect the data."""

    app: Flask
    env: dict[str, str]
    workdir: Path
    nodes: list[Node]
    user: factories.UserInfo
    web: factories.ClientInfo
    spa: factories.ClientInfo
    resource_server: factories.ClientInfo
    #: Two more nodes keeping their throttling counters in Redis (when it answers): their
    #: nodes, the Redis URL and their key prefix.
    redis: tuple[list[Node], str, str] | None = None

    def cli(self, *args: str) -> str:
        """An operator command, run against the shared database as on node 1's machine."""
        result = self.app.test_cli_runner().invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture(scope="module")
def cluster(
    test_database, signing_pem, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    url = postgres_url_for_tests(test_database)
    schema = required_postgres_schema(url)  # fails in CI, skips elsewhere, when unreachable
    workdir = tmp_path_factory.mktemp("nodes")
    app = redis_url = None
    nodes: list[Node] = []
    try:
        app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(workdir / "instance"),
                "DATABASE_URL": url,
                "SQLALCHEMY_ENGINE_OPTIONS": schema_options(schema),
                "SECRET_KEY": SECRET_KEY,
                "BCRYPT_ROUNDS": 4,
                "RATELIMIT_ENABLED": False,
            }
        )
        with app.app_context():
            upgrade()
            kid, pem = signing_pem
            db.session.add(new_signing_key(kid, pem))
            db.session.commit()
            user = factories.make_user()
            web = factories.make_client(owner_email=user.email, name="Web App")
            spa = factories.make_client(owner_email=user.email, public=True, name="SPA")
            resource_server = factories.make_service_client(
                name="Resource API", can_introspect_any=True
            )
        separator = "&" if "?" in url else "?"
        node_url = f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
        issuer_port = free_port()  # the balancer's address: one issuer for every node
        env = {
            **{
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("AUTHSERVER_", "RESOURCE_API_", "FLASK_", "GUNICORN_"))
            },
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "AUTHSERVER_DATABASE_URL": node_url,
            "AUTHSERVER_ISSUER": f"http://127.0.0.1:{issuer_port}",
            "AUTHSERVER_SECRET_KEY": SECRET_KEY,
            "AUTHSERVER_BCRYPT_ROUNDS": "4",
            "AUTHSERVER_SMTP_URL": "smtp://127.0.0.1:9",  # never a real catcher on 1025
            "AUTHSERVER_LOGIN_FAILURES_PER_ACCOUNT": "3 per minute",
            # Each worker cleans up every second or so (and node 2 forks after making the app).
            "AUTHSERVER_CLEANUP_INTERVAL": "1",
            "AUTHSERVER_CACHE_CHECK_INTERVAL": str(CACHE_CHECK_INTERVAL),
            # Polling a disabled client until every worker refuses it is a run of failed client
            # authentications: they must not turn into 429s (30 a minute by default).
            "AUTHSERVER_MACHINE_AUTH_FAILURES_PER_CLIENT": "1000 per minute",
        }
        specs = [NodeSpec("node1", env), NodeSpec("node2", env, preload=True)]
        redis_url = reachable_redis()
        prefix = "authserver-nodes-test-" + secrets.token_hex(6)
        if redis_url:
            # Started with the others (no waiting twice), one worker each (only their counters
            # are under test); the throttling counters in Redis under a prefix of their own.
            redis_env = {
                **env,
                "AUTHSERVER_RATELIMIT_STORAGE_URI": redis_url,
                "AUTHSERVER_RATELIMIT_KEY_PREFIX": prefix,
            }
            specs += [
                NodeSpec(name, redis_env, preload=True, workers=1)
                for name in ("node3-redis", "node4-redis")
            ]
        nodes = start_nodes(specs, workdir)
        live = Cluster(app, env, workdir, nodes[:2], user, web, spa, resource_server)
        if redis_url:
            live.redis = (nodes[2:], redis_url, prefix)
        yield live
    finally:
        stop_nodes(nodes)
        if redis_url:
            connection = redis.Redis.from_url(redis_url)
            for key in connection.scan_iter(f"*{prefix}*"):
                connection.delete(key)
        if app is not None:
            with app.app_context():
                db.engine.dispose()
        drop_postgres_schema(url, schema)


# --- what a browser and a client app do, over HTTP ----------------------------------------------


def form_login(browser: requests.Session, node: Node, email: str, password: str):
    page = browser.get(node.url + "/login", timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    return browser.post(
        node.url + "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def authorize_query(app_client: factories.ClientInfo, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": app_client.client_id,
        "redirect_uri": app_client.redirect_uri,
        "scope": "openid profile offline_access events:read",
        "state": secrets.token_urlsafe(8),
        **params,
    }
    return "/oauth/authorize?" + urlencode(query)


def answer_consent(browser: requests.Session, node: Node, path: str, page_html: str):
    ticked = re.findall(r'name="scope" value="([^"]+)"', page_html)
    data = {"csrf_token": csrf_token(page_html), "decision": "allow", "scope": ticked}
    return browser.post(node.url + path, data=data, allow_redirects=False, timeout=TIMEOUT)


def get_code(browser: requests.Session, node: Node, app_client, **params: str) -> str:
    """Authorize on ``node`` (consenting there if asked); the code from the redirect."""
    path = authorize_query(app_client, **params)
    response = browser.get(node.url + path, allow_redirects=False, timeout=TIMEOUT)
    if response.status_code == 200:
        response = answer_consent(browser, node, path, response.text)
    assert response.status_code == 302, response.text
    query = query_of(response.headers["Location"])
    assert "code" in query, query
    return query["code"]


def token_request(node: Node, app_client: factories.ClientInfo, **data: str) -> requests.Response:
    auth = None
    if app_client.secret:
        auth = (app_client.client_id, app_client.secret)
    else:
        data["client_id"] = app_client.client_id
    return requests.post(node.url + "/oauth/token", data=data, auth=auth, timeout=TIMEOUT)


def redeem(node: Node, app_client, code: str, **extra: str) -> requests.Response:
    return token_request(
        node,
        app_client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=app_client.redirect_uri,
        **extra,
    )


def refresh(node: Node, app_client, refresh_token: str) -> requests.Response:
    return token_request(node, app_client, grant_type="refresh_token", refresh_token=refresh_token)


def introspect(node: Node, cluster: Cluster, token: str) -> dict:
    rs = cluster.resource_server
    response = requests.post(
        node.url + "/oauth/introspect",
        data={"token": token},
        auth=(rs.client_id, rs.secret),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def assert_invalid_grant(response: requests.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant", response.text


def logged_in_browser(cluster: Cluster, node: Node) -> requests.Session:
    browser = requests.Session()
    response = form_login(browser, node, cluster.user.email, cluster.user.password)
    assert response.status_code == 302, response.text
    return browser


def on_both(cluster: Cluster, times: int, call) -> list:
    """``call(node)`` ``times`` times on each node: enough to reach each of its workers."""
    return [call(node) for _ in range(times) for node in cluster.nodes]


def within_the_cache_interval(cluster: Cluster, call, holds) -> list:
    """``on_both(cluster, 6, call)`` again until ``holds`` of the answers: every worker must see
    a change within the caches' interval (plus slack for a slow machine); the answers that held."""
    deadline = time.monotonic() + CACHE_CHECK_INTERVAL + SLACK_SECONDS
    while True:
        answers = on_both(cluster, 6, call)
        if holds(answers):
            return answers
        assert time.monotonic() < deadline, answers
        time.sleep(CACHE_CHECK_INTERVAL / 4)


# --- the tests ----------------------------------------------------------------------------------


def test_a_login_on_one_node_holds_on_the_other(cluster):
    node1, node2 = cluster.nodes
    browser = requests.Session()
    response = form_login(browser, node1, cluster.user.email, cluster.user.password)
    assert response.status_code == 302, response.text

    # No sticky sessions: node 2 knows the session (signed cookie + its row in the database).
    apps = browser.get(node2.url + "/account/apps", allow_redirects=False, timeout=TIMEOUT)
    assert apps.status_code == 200, apps.headers.get("Location")

    verifier, challenge = pkce_pair()
    path = authorize_query(cluster.spa, code_challenge=challenge, code_challenge_method="S256")
    page = browser.get(node2.url + path, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200, page.headers.get("Location")  # consent, not a login
    assert 'name="decision"' in page.text
    # The consent form from node 2, answered on node 1 (its CSRF token lives in the session).
    answered = answer_consent(browser, node1, path, page.text)
    assert answered.status_code == 302, answered.text
    code = query_of(answered.headers["Location"])["code"]

    tokens = redeem(node2, cluster.spa, code, code_verifier=verifier)
    assert tokens.status_code == 200, tokens.text
    assert introspect(node1, cluster, tokens.json()["access_token"])["active"] is True


def test_a_grant_crosses_nodes_from_code_to_revocation(cluster):
    node1, node2 = cluster.nodes
    browser = logged_in_browser(cluster, node2)
    code = get_code(browser, node1, cluster.web)

    first = redeem(node2, cluster.web, code)
    assert first.status_code == 200, first.text
    second = refresh(node1, cluster.web, first.json()["refresh_token"])
    assert second.status_code == 200, second.text
    pair = second.json()

    revoked = requests.post(
        node2.url + "/oauth/revoke",
        data={"token": pair["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(cluster.web.client_id, cluster.web.secret),
        timeout=TIMEOUT,
    )
    assert revoked.status_code == 200, revoked.text

    for node in cluster.nodes:
        assert introspect(node, cluster, pair["refresh_token"]) == {"active": False}
        # RFC 7009 §2.1: the whole grant went with the refresh token.
        assert introspect(node, cluster, pair["access_token"]) == {"active": False}
        assert introspect(node, cluster, first.json()["access_token"]) == {"active": False}
        # Both refresh tokens of the grant are dead everywhere (even inside the retry window).
        assert_invalid_grant(refresh(node, cluster.web, first.json()["refresh_token"]))
        assert_invalid_grant(refresh(node, cluster.web, pair["refresh_token"]))


def _together(count: int, work) -> list:
    """``work(i)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def run(i: int):
        barrier.wait(timeout=TIMEOUT)
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_parallel_redemptions_over_both_nodes_one_wins_and_the_replay_revokes_it(cluster):
    """SPEC (RFC 6749 §4.1.2): a code is single use, and a second redemption fails and revokes
    what the first one issued. Raced over two nodes: one 200, fifteen invalid_grant, and the
    winner's tokens end up revoked by the losers."""
    browser = logged_in_browser(cluster, cluster.nodes[0])
    code = get_code(browser, cluster.nodes[1], cluster.web)

    answers = _together(16, lambda i: redeem(cluster.nodes[i % 2], cluster.web, code))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * 15, [(a.status_code, a.text) for a in answers]
    for answer in answers:
        if answer.status_code == 400:
            assert answer.json()["error"] == "invalid_grant", answer.text
    (won,) = [answer.json() for answer in answers if answer.status_code == 200]
    for node in cluster.nodes:
        assert introspect(node, cluster, won["access_token"]) == {"active": False}
        assert introspect(node, cluster, won["refresh_token"]) == {"active": False}
        assert_invalid_grant(refresh(node, cluster.web, won["refresh_token"]))


def test_parallel_refreshes_over_both_nodes_make_exactly_one_successor(cluster):
    """SPEC: a refresh token rotates at every use; the same token again within
    AUTHSERVER_REFRESH_RETRY_WINDOW gets the same successor back. Sixteen simultaneous uses
    over both nodes: one successor is made, every answer carries it, the grant stays alive."""
    browser = logged_in_browser(cluster, cluster.nodes[1])
    code = get_code(browser, cluster.nodes[0], cluster.web)
    issued = redeem(cluster.nodes[1], cluster.web, code)
    assert issued.status_code == 200, issued.text
    original = issued.json()["refresh_token"]

    answers = _together(16, lambda i: refresh(cluster.nodes[i % 2], cluster.web, original))

    assert [a.status_code for a in answers] == [200] * 16, [a.text for a in answers]
    bodies = [answer.json() for answer in answers]
    assert len({body["refresh_token"] for body in bodies}) == 1
    assert len({body["access_token"] for body in bodies}) == 1
    successor = bodies[0]["refresh_token"]
    with cluster.app.app_context():
        family_id = db.session.scalar(
            select(AccessToken.family_id).where(AccessToken.jti == _jti(issued.json()))
        )
        in_family = db.session.scalars(
            select(RefreshToken).where(RefreshToken.family_id == family_id)
        ).all()
        assert sorted(token.rotated_at is None for token in in_family) == [False, True]
        minted = db.session.scalar(
            select(func.count()).select_from(AccessToken).where(AccessToken.family_id == family_id)
        )
        assert minted == 2  # the code's, and the one refresh's
    for node in cluster.nodes:
        assert introspect(node, cluster, successor)["active"] is True
        assert introspect(node, cluster, original) == {"active": False}
    onward = refresh(cluster.nodes[1], cluster.web, successor)
    assert onward.status_code == 200, onward.text


def _jti(token_response: dict) -> str:
    claims = token_response["access_token"].split(".")[1]
    return json.loads(_b64(claims))["jti"]


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _failed_logins_trip_on_both(nodes: list[Node], email: str) -> None:
    """Three failures (the limit), split over the nodes; then either node refuses: 429."""
    answers = [
        form_login(requests.Session(), nodes[n % 2], email, WRONG).status_code for n in range(3)
    ]
    assert answers == [400, 400, 400]
    # Node 2 saw one failure itself, node 1 two: only shared counters make both refuse now.
    for node in (nodes[1], nodes[0]):
        refused = form_login(requests.Session(), node, email, WRONG)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) > 0


def test_throttling_counts_failed_logins_across_nodes_in_the_database(cluster):
    with cluster.app.app_context():
        victim = factories.make_user()
    _failed_logins_trip_on_both(cluster.nodes, victim.email)
    with cluster.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RateLimitCounter)) > 0


def reachable_redis() -> str | None:
    url = os.environ.get("AUTHSERVER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        return None
    return url


@pytest.fixture
def redis_nodes(cluster) -> tuple[list[Node], str, str]:
    """The two nodes with their throttling counters in Redis; fails in CI without Redis."""
    if cluster.redis is None:
        url = os.environ.get("AUTHSERVER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        if IN_CI:
            pytest.fail(f"Redis is required in CI but unreachable at {url}")
        pytest.skip(f"Redis unreachable at {url}")
    return cluster.redis


def test_throttling_counts_failed_logins_across_nodes_in_redis(cluster, redis_nodes):
    nodes, url, prefix = redis_nodes
    with cluster.app.app_context():
        victim = factories.make_user()
        counters_before = db.session.scalar(select(func.count()).select_from(RateLimitCounter))
    _failed_logins_trip_on_both(nodes, victim.email)
    assert list(redis.Redis.from_url(url).scan_iter(f"*{prefix}*"))
    with cluster.app.app_context():
        counters_after = db.session.scalar(select(func.count()).select_from(RateLimitCounter))
    assert counters_after == counters_before  # nothing counted in the database


def test_a_client_disabled_through_one_node_is_refused_by_the_other_within_the_interval(
    cluster,
):
    with cluster.app.app_context():
        service = factories.make_service_client(name="Nightly export")

    def client_credentials(node: Node) -> requests.Response:
        return token_request(node, service, grant_type="client_credentials", scope="events:read")

    # Warm every worker's client cache on both nodes.
    assert {r.status_code for r in on_both(cluster, 6, client_credentials)} == {200}

    cluster.cli("clients", "disable", service.client_id)

    def all_refused(answers: list[requests.Response]) -> bool:
        return {r.status_code for r in answers} == {401}

    refused = within_the_cache_interval(cluster, client_credentials, all_refused)
    assert {r.json()["error"] for r in refused} == {"invalid_client"}
    assert all_refused(on_both(cluster, 6, client_credentials))  # and it stays so


def test_a_key_rotation_through_one_node_shows_in_the_other_jwks_within_the_interval(cluster):
    def kids(node: Node) -> frozenset[str]:
        response = requests.get(node.url + "/oauth/jwks", timeout=TIMEOUT)
        assert response.status_code == 200
        return frozenset(key["kid"] for key in response.json()["keys"])

    def signing_kid(node: Node) -> str:
        rs = cluster.resource_server
        response = token_request(node, rs, grant_type="client_credentials", scope="events:read")
        assert response.status_code == 200, response.text
        header = response.json()["access_token"].split(".")[0]
        return json.loads(_b64(header))["kid"]

    before = set(on_both(cluster, 6, kids))
    assert len(before) == 1
    old_kids = before.pop()
    on_both(cluster, 6, signing_kid)  # every worker has the signing key cached

    cluster.cli("keys", "rotate", "--publish-only")

    def all_show_one_new_set(kid_sets: list[frozenset[str]]) -> bool:
        return len(set(kid_sets)) == 1 and kid_sets[0] != old_kids

    published = within_the_cache_interval(cluster, kids, all_show_one_new_set)
    (new_kid,) = published[0] - old_kids
    assert new_kid not in set(on_both(cluster, 6, signing_kid))  # published, not signing yet

    cluster.cli("keys", "rotate")
    within_the_cache_interval(cluster, signing_kid, lambda used: set(used) == {new_kid})
    assert {new_kid in kid_set for kid_set in on_both(cluster, 6, kids)} == {True}


def test_the_nodes_clean_up_about_once_an_interval_between_them(cluster):
    """AUTHSERVER_CLEANUP_INTERVAL=1: expired rows go without `authserver cleanup`; the threads
    run in workers (the preloaded node 2's too: they start after gunicorn's fork), and the
    window each run claims in the database keeps all the nodes' workers (six, with the Redis
    pair) to about one run a second between them, not one each."""
    started = datetime.now(UTC)
    with cluster.app.app_context():
        event = audit.record("login.failed", outcome="failure", actor="anonymous")
        event.at = datetime.now(UTC) - timedelta(days=400)  # past AUDIT_RETENTION_DAYS
        db.session.flush()
        event_id = event.id  # read before the commit: a node may delete it right after
        db.session.commit()
    on_both(cluster, 4, lambda node: requests.get(node.url + "/healthz", timeout=TIMEOUT))

    deadline = time.monotonic() + 20  # a loaded CI machine is slow to start threads
    while True:
        with cluster.app.app_context():
            if db.session.get(AuditEvent, event_id) is None:
                break
        assert time.monotonic() < deadline, "\n".join(node.tail() for node in cluster.nodes)
        time.sleep(0.1)
    time.sleep(3)  # every worker's thread wakes several times meanwhile
    ended = datetime.now(UTC)

    runs = []
    # The Redis nodes run on the same schema with the same interval: they take turns too.
    every_node = cluster.nodes + (cluster.redis[0] if cluster.redis else [])
    for node in every_node:
        ran = [
            json.loads(line)
            for line in node.log.read_text().splitlines()
            if '"scheduled cleanup removed' in line
        ]
        assert {line["logger"] for line in ran} <= {"authserver.cleanup"}
        assert node.process.pid not in {line["pid"] for line in ran}  # workers, not the master
        runs += [line for line in ran if started <= datetime.fromisoformat(line["time"]) <= ended]
    seconds = (ended - started).total_seconds()
    # Claims last 0.75 s (the shortest jittered wait): at most one run per claim window, plus
    # one claimed before ``started`` whose line came after. Without the claims: ~4 a second.
    assert 1 <= len(runs) <= seconds / 0.75 + 2, (len(runs), seconds)
