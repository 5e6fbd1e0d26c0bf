"""`authserver check --url`: a running node, seen from outside over HTTP, read-only.

What a balancer, a client and Prometheus see: liveness (``/healthz``), readiness with its
reason (``/readyz``), the discovery document, the JWKS it names, and the metrics address when
one is given. Only ``GET`` requests; nothing is written anywhere. Whatever it could not see is
said as such (``SKIP``, or a failure naming the error), never passed: the settings, the database
and the keys at rest of that node are not visible over HTTP (run ``authserver check`` on it).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from . import metadata_check
from .checks import FAIL, PASS, SKIP, WARN, Finding, metadata_findings, resource_findings

#: Seconds to wait for each answer.
TIMEOUT = 5.0
#: What every node's metrics carry (a scrape of something else is not the node's metrics).
METRICS_MARK = "authserver_http_requests_total"


def _get(url: str) -> requests.Response | str:
    """The answer, or why there was none (one line)."""
    try:
        return requests.get(url, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        return f"could not reach {url}: {type(error).__name__}"


def _json(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _health(base: str) -> Finding:
    answer = _get(base + "/healthz")
    if isinstance(answer, str):
        return Finding("node liveness", FAIL, answer)
    if answer.status_code != 200:
        return Finding("node liveness", FAIL, f"/healthz answered {answer.status_code}")
    return Finding("node liveness", PASS, "/healthz answered 200")


def _readiness(base: str) -> Finding:
    answer = _get(base + "/readyz")
    if isinstance(answer, str):
        return Finding("node readiness", FAIL, answer)
    body = _json(answer) or {}
    detail = ", ".join(f"{k}: {v}" for k, v in body.items() if k != "status")
    if answer.status_code == 200 and body.get("status") == "ok":
        return Finding(
            "node readiness", PASS, "/readyz answered 200 ok" + (f" ({detail})" if detail else "")
        )
    if answer.status_code == 200:
        return Finding(
            "node readiness", WARN, f"/readyz answered 200 {body.get('status')}: {detail}"
        )
    return Finding(
        "node readiness",
        FAIL,
        f"/readyz answered {answer.status_code}: {detail or 'no reason given'}",
    )


def _discovery(base: str) -> tuple[Finding, str | None, str | None]:
    """The discovery finding, and the ``jwks_uri`` and ``issuer`` the node names."""
    url = base + "/.well-known/openid-configuration"
    answer = _get(url)
    if isinstance(answer, str):
        return Finding("node discovery", FAIL, answer), None, None
    body = _json(answer)
    if answer.status_code != 200 or body is None:
        return (
            Finding(
                "node discovery", FAIL, f"{url} answered {answer.status_code}, not JSON metadata"
            ),
            None,
            None,
        )
    issuer, jwks_uri = body.get("issuer"), body.get("jwks_uri")
    if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
        return (
            Finding("node discovery", FAIL, "the metadata names no issuer or jwks_uri"),
            None,
            None,
        )
    if urlsplit(issuer).scheme != "https":
        return (
            Finding("node discovery", WARN, f"issuer {issuer} is not https (RFC 9700 §2.6)"),
            jwks_uri,
            issuer,
        )
    return Finding("node discovery", PASS, f"issuer {issuer}"), jwks_uri, issuer


def _jwks(base: str, jwks_uri: str | None) -> Finding:
    """The key set at the path discovery names, asked of this node (the ``jwks_uri`` itself
    may be the balancer's public address, which shows some node, not necessarily this one)."""
    if jwks_uri is None:
        return Finding("node JWKS", SKIP, "not checked: no jwks_uri from discovery")
    url = base + (urlsplit(jwks_uri).path or "/")
    answer = _get(url)
    if isinstance(answer, str):
        return Finding("node JWKS", FAIL, answer)
    keys = (_json(answer) or {}).get("keys")
    if answer.status_code != 200 or not isinstance(keys, list):
        return Finding("node JWKS", FAIL, f"{url} answered {answer.status_code}, not a key set")
    if not keys:
        return Finding(
            "node JWKS", WARN, f"{url} publishes no key yet (the first token request makes one)"
        )
    return Finding("node JWKS", PASS, f"{len(keys)} published key(s) at {url}")


def _metrics(address: str | None) -> Finding:
    if address is None:
        return Finding(
            "node metrics",
            SKIP,
            "not checked: pass --metrics HOST:PORT (AUTHSERVER_METRICS_ADDRESS of that node)",
        )
    url = f"http://{address}/metrics"
    answer = _get(url)
    if isinstance(answer, str):
        return Finding("node metrics", FAIL, answer)
    if answer.status_code != 200 or METRICS_MARK not in answer.text:
        return Finding(
            "node metrics", FAIL, f"{url} answered {answer.status_code} without {METRICS_MARK}"
        )
    return Finding("node metrics", PASS, f"{url} serves the node's metrics")


def _served(url: str) -> tuple[int, object]:
    answer = _get(url)
    if isinstance(answer, str):
        return 0, None
    return answer.status_code, _json(answer)


def _metadata(base: str, issuer: str | None) -> list[Finding]:
    """The documents at every location RFC 8414 §3.1 and OIDC Discovery §4.1 give for the
    issuer the node names, asked of this node."""
    if issuer is None:
        return [Finding("metadata (RFC 8414)", SKIP, "not checked: no issuer from discovery")]
    locations = metadata_check.metadata_locations(issuer)
    served = {location: _served(base + urlsplit(location).path) for location in locations}
    return metadata_findings(served, issuer)


def check_resource(resource: str, issuer: str) -> list[Finding]:
    """A resource server's RFC 9728 metadata, and the 401 its own URL answers without a token."""
    served = _served(metadata_check.protected_resource_metadata_location(resource))
    answer = _get(resource)
    challenge = (
        None
        if isinstance(answer, str)
        else (answer.status_code, answer.headers.get("WWW-Authenticate"))
    )
    return resource_findings(resource, served, challenge, issuer)


def check_node(
    url: str, metrics_address: str | None = None, resources: tuple[str, ...] = ()
) -> list[Finding]:
    """What a running node at ``url`` shows over HTTP, one finding per item, and each resource
    server in ``resources`` as a client finds it from this node's issuer."""
    base = url.rstrip("/")
    discovery, jwks_uri, issuer = _discovery(base)
    return [
        _health(base),
        _readiness(base),
        discovery,
        *_metadata(base, issuer),
        _jwks(base, jwks_uri),
        *[
            finding
            for resource in resources
            for finding in check_resource(resource, issuer or base)
        ],
        _metrics(metrics_address),
        Finding(
            "node settings",
            SKIP,
            "not visible over HTTP (settings, database, keys at rest, throttling storage "
            "configuration): run `authserver check` on the node itself",
        ),
    ]
