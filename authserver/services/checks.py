"""`authserver check`: the running configuration held against RFC 9700 and deployment basics.

Each check is a plain function of the settings (and the key set) returning one line: pass,
warn or fail, with the RFC section or the setting to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from servicemetrics import MetricsConfigError, exposure, parse_address

from .. import clock
from ..config import is_loopback_url
from ..extensions import limiter
from . import keys, metadata_check, outbox

PASS, WARN, FAIL = "pass", "warn", "fail"
#: A status for what a check could not look at: neither passed nor failed.
SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    item: str
    status: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"item": self.item, "status": self.status, "detail": self.detail}


def _issuer(config: Mapping) -> Finding:
    issuer = str(config["ISSUER"])
    if urlsplit(issuer).scheme == "https":
        return Finding("issuer", PASS, f"{issuer} uses https (RFC 9700 §2.6, RFC 8414 §2)")
    if is_loopback_url(issuer):
        return Finding("issuer", WARN, f"{issuer} is http on loopback: fine for development only")
    return Finding("issuer", FAIL, "AUTHSERVER_ISSUER must be https (RFC 9700 §2.6)")


def _secret_key(config: Mapping) -> Finding:
    key = str(config.get("SECRET_KEY") or "")
    if len(key) < 32:
        return Finding("secret key", FAIL, "AUTHSERVER_SECRET_KEY: use 32+ random characters")
    return Finding("secret key", PASS, f"{len(key)} characters")


def _cookies(config: Mapping) -> Finding:
    problems = []
    if not config.get("SESSION_COOKIE_HTTPONLY"):
        problems.append("HttpOnly off")
    if str(config.get("SESSION_COOKIE_SAMESITE", "")).lower() not in ("lax", "strict"):
        problems.append("SameSite not Lax/Strict")
    https = urlsplit(str(config["ISSUER"])).scheme == "https"
    if https and not config.get("SESSION_COOKIE_SECURE"):
        problems.append("Secure off with an https issuer")
    if problems:
        return Finding("session cookie", FAIL, ", ".join(problems) + " (OWASP session management)")
    flags = f"HttpOnly, SameSite={config.get('SESSION_COOKIE_SAMESITE')}"
    if config.get("SESSION_COOKIE_SECURE"):
        flags += ", Secure"
    return Finding("session cookie", PASS, f"{config.get('SESSION_COOKIE_NAME')}: {flags}")


def _pkce(config: Mapping) -> Finding:
    return Finding(
        "PKCE", PASS, "S256 only; required of public clients (RFC 9700 §2.1.1, RFC 7636)"
    )


def _lifetimes(config: Mapping) -> list[Finding]:
    findings = []
    access = int(config["ACCESS_TOKEN_TTL"])
    status = PASS if access <= 3600 else WARN
    findings.append(
        Finding(
            "access token lifetime",
            status,
            f"{access} s" + ("" if status == PASS else ": JWTs cannot be recalled; keep it short"),
        )
    )
    code = int(config["CODE_TTL"])
    status = PASS if code <= 600 else FAIL
    findings.append(
        Finding("code lifetime", status, f"{code} s (RFC 6749 §4.1.2: at most 10 minutes)")
    )
    family = int(config["REFRESH_TOKEN_MAX_LIFETIME"])
    if family <= 0:
        findings.append(
            Finding("refresh absolute lifetime", WARN, "unbounded: set REFRESH_TOKEN_MAX_LIFETIME")
        )
    else:
        findings.append(
            Finding(
                "refresh absolute lifetime",
                PASS if family <= 365 * 86400 else WARN,
                f"{family // 86400} days (RFC 9700 §4.14.2)",
            )
        )
    return findings


def _registration(config: Mapping) -> Finding:
    if not config.get("REGISTRATION_ENABLED"):
        return Finding("dynamic registration", PASS, "off")
    if config.get("REGISTRATION_INITIAL_ACCESS_TOKEN"):
        return Finding("dynamic registration", PASS, "on, guarded by an initial access token")
    return Finding(
        "dynamic registration",
        WARN,
        "open to anyone: set AUTHSERVER_REGISTRATION_INITIAL_ACCESS_TOKEN (RFC 7591 §3)",
    )


def _signing_key(now: datetime) -> Finding:
    active = keys.current_active_key()  # read only: the check never makes the first key
    if active is None:
        return Finding(
            "signing key age",
            PASS,
            "no key yet: the first token request makes one (or run `authserver keys rotate`)",
        )
    age = max(now - active.created_at, timedelta(0))
    if age > timedelta(days=365):
        return Finding(
            "signing key age", WARN, f"{age.days} days: rotate with `authserver keys rotate`"
        )
    return Finding("signing key age", PASS, f"{age.days} days ({active.kid[:12]}…)")


def _keys_at_rest() -> Finding:
    item = "signing keys at rest"
    storage = keys.key_storage()
    current = f"key-encryption key {storage.ring.current.id} (from {storage.ring.source})"
    if storage.problems:
        more = f" (and {len(storage.problems) - 1} more)" if len(storage.problems) > 1 else ""
        return Finding(item, FAIL, f"{storage.problems[0]}{more}")
    if storage.under_previous:
        return Finding(
            item,
            WARN,
            f"{storage.under_previous} of {storage.total} still need a previous key-encryption "
            f"key: run `authserver keys rewrap`, then drop it (current: {current})",
        )
    if not storage.total:
        return Finding(item, PASS, f"no key yet; each will be encrypted under {current}")
    return Finding(item, PASS, f"{storage.total} encrypted under {current}")


def _proxies(config: Mapping) -> Finding:
    hops = int(config.get("TRUSTED_PROXIES") or 0)
    if hops:
        return Finding("trusted proxies", PASS, f"{hops}: X-Forwarded-* from that many hops")
    if is_loopback_url(str(config["ISSUER"])):
        return Finding("trusted proxies", PASS, "none (served directly)")
    return Finding(
        "trusted proxies",
        WARN,
        "0: behind a load balancer set AUTHSERVER_TRUSTED_PROXIES, or every client shares its "
        "address for throttling",
    )


def _outbound_loopback(config: Mapping) -> Finding:
    """Fetching from loopback (metadata documents, client key sets, logout receivers) is for a
    development machine: on a public server it lets anyone who names a client make this server
    request its own private ports (SSRF, RFC 9700 §4.x, the CIMD draft's security notes)."""
    item = "outbound requests to loopback"
    allowed = [
        name for name in ("CIMD_ALLOW_LOOPBACK", "OUTBOUND_ALLOW_LOOPBACK") if config.get(name)
    ]
    if not allowed:
        return Finding(item, PASS, "refused (private, loopback and link-local addresses)")
    settings = " and ".join(f"AUTHSERVER_{name}" for name in allowed)
    if is_loopback_url(str(config["ISSUER"])):
        return Finding(item, PASS, f"allowed by {settings}: fine on a development machine")
    return Finding(
        item,
        FAIL,
        f"{settings} let anyone who names a client make this public server call its own "
        "loopback ports: turn it off",
    )


def _throttling(config: Mapping) -> Finding:
    uri = str(config.get("RATELIMIT_STORAGE_URI", ""))
    if uri.startswith("memory"):
        return Finding(
            "throttling storage", FAIL, "memory:// is per process: use database:// or redis://"
        )
    where = uri.split("@")[-1]  # never the credentials
    try:
        answers = bool(limiter.storage.check())
    except Exception:  # whatever the storage's client raises: it did not answer
        answers = False
    if not answers:
        return Finding(
            "throttling storage",
            FAIL,
            f"{where} does not answer: every process counts in its own memory until it does",
        )
    return Finding("throttling storage", PASS, f"{where} answers")


def _metrics(config: Mapping) -> Finding:
    setting = "AUTHSERVER_METRICS_ADDRESS"
    try:
        address = parse_address(config.get("METRICS_ADDRESS"), setting)
    except MetricsConfigError as error:
        return Finding("metrics exposure", FAIL, str(error))
    if address is None:
        return Finding("metrics exposure", PASS, "off")
    host, port = address
    reach = exposure(host)
    where = f"{host}:{port}"
    if reach in ("loopback", "private"):
        return Finding("metrics exposure", PASS, f"{where} ({reach} address)")
    why = {
        "everywhere": "every interface",
        "public": "a public address",
        "unknown": "a host name this check cannot place",
    }[reach]
    return Finding(
        "metrics exposure",
        WARN,
        f"{where} is {why}: metrics reveal client ids and traffic; set {setting} to a "
        "loopback or private address, behind the firewall",
    )


#: Mail older than this still queued means delivery is not keeping up (or the server is down).
OUTBOX_STALE = timedelta(minutes=10)


def _outbox(config: Mapping) -> Finding:
    item = "outbox"
    where = urlsplit(str(config.get("SMTP_URL", "")))
    smtp = f"{where.scheme}://{where.hostname}:{where.port or ''}".rstrip(":")  # no credentials
    now = outbox.state()
    oldest = f", oldest {int(now.oldest_age.total_seconds())} s" if now.oldest_age else ""
    detail = (
        f"{now.queued} queued{oldest}, {now.failing} failing, {now.given_up} given up in the "
        f"last day; mail goes to {smtp}"
    )
    if config.get("OUTBOX_INTERVAL") is None:
        detail += "; AUTHSERVER_OUTBOX_INTERVAL is unset: run `authserver outbox send` yourself"
    stale = now.oldest_age is not None and now.oldest_age > OUTBOX_STALE
    return Finding(item, WARN if stale or now.given_up or now.failing else PASS, detail)


def run_checks(config: Mapping) -> list[Finding]:
    now = clock.now()
    return [
        _issuer(config),
        _secret_key(config),
        _cookies(config),
        _pkce(config),
        *_lifetimes(config),
        _registration(config),
        _signing_key(now),
        _keys_at_rest(),
        _proxies(config),
        _outbound_loopback(config),
        _throttling(config),
        _metrics(config),
        _outbox(config),
    ]


#: Each metadata location as served: its HTTP status and its JSON body (None if not JSON).
ServedDocuments = Mapping[str, tuple[int, object]]


def metadata_findings(served: ServedDocuments, issuer: str) -> list[Finding]:
    """The discovery documents at every location clients look (RFC 8414 §3.1, OIDC Discovery
    §4.1), held against RFC 8414 and OIDC Discovery, and the same document at each."""
    item = "metadata (RFC 8414)"
    missing = [
        f"{url} answered {status}"
        for url, (status, body) in served.items()
        if status != 200 or body is None
    ]
    if missing:
        return [Finding(item, FAIL, "not served where clients look: " + "; ".join(missing))]
    documents = list(served.values())
    if any(body != documents[0][1] for _, body in documents):
        return [
            Finding(item, FAIL, "the locations serve different documents: " + ", ".join(served))
        ]
    problems = metadata_check.authorization_server_problems(documents[0][1], issuer)
    if problems:
        return [Finding(item, FAIL, "; ".join(problems))]
    return [
        Finding(item, PASS, f"one valid document at {len(served)} locations: " + ", ".join(served))
    ]


def resource_findings(
    resource: str, served: tuple[int, object], challenge: tuple[int, str | None] | None, issuer: str
) -> list[Finding]:
    """A resource server's RFC 9728 metadata, and the challenge of its 401 (``challenge`` is
    None when the resource's own URL could not be asked)."""
    item = f"resource metadata (RFC 9728) {resource}"
    status, body = served
    location = metadata_check.protected_resource_metadata_location(resource)
    if status != 200 or body is None:
        findings = [Finding(item, FAIL, f"{location} answered {status}, not JSON metadata")]
    else:
        problems = metadata_check.protected_resource_problems(body, resource, issuer)
        findings = [
            Finding(item, FAIL, "; ".join(problems))
            if problems
            else Finding(item, PASS, f"valid at {location}")
        ]
    challenge_item = f"resource challenge {resource}"
    if challenge is None or (challenge[0] != 401 and challenge[0] < 500):
        seen = "could not be asked" if challenge is None else f"answered {challenge[0]}"
        findings.append(
            Finding(challenge_item, SKIP, f"{resource} {seen} without a token: no 401 to read")
        )
    else:
        problems = metadata_check.challenge_problems(challenge[0], challenge[1], resource)
        findings.append(
            Finding(challenge_item, FAIL, "; ".join(problems))
            if problems
            else Finding(challenge_item, PASS, "the 401 names its metadata (RFC 9728 §5.1)")
        )
    return findings
