"""Everything the API asks the authorization server: discovery, its JWKS and introspection.

All of it goes through one ``requests.Session`` (``IssuerClient.session``) with timeouts, so a
test, or an in-process deployment, can mount its own transport adapter on it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, RSAKey

from .config import is_loopback_url
from .metrics import counted_jwks_fetch

log = logging.getLogger(__name__)

#: Discovery documents and key sets are a few KiB; anything far bigger is not one.
MAX_RESPONSE_BYTES = 1024 * 1024


class IssuerUnavailable(Exception):
    """The issuer could not be asked, or answered nonsense; the API answers 503."""


class IssuerClient:
    """Discovery (OIDC Discovery §4), the JWKS (RFC 7517) and introspection (RFC 7662), cached.

    Thread-safe: one lock serialises fetches so that many requests arriving with the same new
    ``kid`` cause one fetch, not one each.
    """

    def __init__(
        self,
        issuer: str,
        *,
        clock: Callable[[], float],
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        metadata_max_age: float = 3600,
        jwks_max_age: float = 600,
        min_refetch_interval: float = 10,
        introspection_client_id: str | None = None,
        introspection_client_secret: str | None = None,
    ) -> None:
        self.issuer = issuer
        self.clock = clock
        self.timeout = (connect_timeout, read_timeout)
        self.metadata_max_age = metadata_max_age
        self.jwks_max_age = jwks_max_age
        self.min_refetch_interval = min_refetch_interval
        self._introspection_auth = (introspection_client_id, introspection_client_secret)
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self._lock = threading.RLock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_fetched_at = 0.0
        self._last_metadata_attempt: float | None = None
        self._keys: dict[str, RSAPublicKey] | None = None
        self._keys_fetched_at = 0.0
        self._last_jwks_attempt: float | None = None

    # -- discovery -------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document, fetched once per ``metadata_max_age``.

        A stale document is kept when the issuer cannot be reached, and a failed fetch is not
        retried sooner than ``min_refetch_interval``.
        """
        with self._lock:
            now = self.clock()
            cached = self._metadata
            if cached is not None and now - self._metadata_fetched_at < self.metadata_max_age:
                return cached
            last = self._last_metadata_attempt
            if last is not None and now - last < self.min_refetch_interval:
                if cached is None:
                    raise IssuerUnavailable("discovery failed moments ago; not retrying yet")
                return cached
            self._last_metadata_attempt = now
            try:
                document = self._fetch_metadata()
            except IssuerUnavailable:
                if cached is None:
                    raise
                log.warning("issuer discovery refresh failed; using the cached document")
                return cached
            self._metadata, self._metadata_fetched_at = document, now
            return document

    def _fetch_metadata(self) -> dict[str, Any]:
        document = self._get_json(self.issuer + "/.well-known/openid-configuration")
        # OIDC Discovery §4.3 / RFC 8414 §3.3: the issuer in the document MUST be identical to
        # the one it was fetched for, or one server could vouch for another.
        if document.get("issuer") != self.issuer:
            raise IssuerUnavailable(
                f"discovery document names issuer {document.get('issuer')!r}, "
                f"expected {self.issuer!r}"
            )
        return document

    def _endpoint(self, name: str) -> str:
        url = self.metadata().get(name)
        if not isinstance(url, str) or not _is_safe_url(url):
            raise IssuerUnavailable(f"the issuer's metadata has no usable {name}")
        return url

    # -- keys ------------------------------------------------------------------------------

    def signing_key(self, kid: str) -> RSAPublicKey | None:
        """The issuer's RS256 public key with this ``kid``, or None if it has none.

        Keys are parsed from the JWKS once per fetch, into objects ready to verify with.

        The JWKS is fetched again when it is older than ``jwks_max_age`` and, once, when a kid
        is unknown (a key rotation), but never more often than ``min_refetch_interval``.
        Raises IssuerUnavailable when no key set can be had at all, or when an unknown kid
        could not be looked up because the issuer did not answer.
        """
        # Fast path without the lock: a request with a known kid never waits behind a fetch
        # that another request's unknown kid started.
        keys, now = self._keys, self.clock()
        if keys is not None and kid in keys and now - self._keys_fetched_at < self.jwks_max_age:
            return keys[kid]
        with self._lock:
            now = self.clock()
            if self._keys is None or now - self._keys_fetched_at >= self.jwks_max_age:
                if self._may_fetch_jwks(now):
                    try:
                        self._fetch_jwks(now)
                    except IssuerUnavailable:
                        if self._keys is None:
                            raise
                        # Keep serving with the keys we have rather than turning a short
                        # issuer outage into an outage of the API.
                        log.warning("issuer JWKS refresh failed; using the cached key set")
                elif self._keys is None:
                    raise IssuerUnavailable("the issuer's keys could not be fetched recently")
            key = self._keys.get(kid) if self._keys is not None else None
            if key is None and self._may_fetch_jwks(now):
                self._fetch_jwks(now)
                key = self._keys.get(kid) if self._keys is not None else None
            return key

    def _may_fetch_jwks(self, now: float) -> bool:
        return (
            self._last_jwks_attempt is None
            or now - self._last_jwks_attempt >= self.min_refetch_interval
        )

    @counted_jwks_fetch
    def _fetch_jwks(self, now: float) -> None:
        self._last_jwks_attempt = now
        document = self._get_json(self._endpoint("jwks_uri"))
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise IssuerUnavailable("the issuer's JWKS has no keys array")
        keys: dict[str, RSAPublicKey] = {}
        for entry in entries:
            usable = _rs256_verification_key(entry)
            if usable is not None:
                kid, key = usable
                keys[kid] = key
        self._keys_fetched_at = now
        self._keys = keys

    # -- introspection ---------------------------------------------------------------------

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.1: POST the token, authenticated as a client, and return the answer."""
        url = self._endpoint("introspection_endpoint")
        client_id, client_secret = self._introspection_auth
        if not client_id or not client_secret:
            raise IssuerUnavailable("introspection credentials are not configured")
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before they go into Basic auth.
        auth = (quote_plus(client_id), quote_plus(client_secret))
        try:
            response = self.session.post(
                url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise IssuerUnavailable(f"introspection request failed: {error}") from error
        answer = _json_object(response, url)
        if not isinstance(answer.get("active"), bool):
            raise IssuerUnavailable("introspection answer has no boolean 'active'")
        return answer

    # -- transport -------------------------------------------------------------------------

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.session.get(
                url, timeout=self.timeout, stream=True, allow_redirects=False
            )
        except requests.RequestException as error:
            raise IssuerUnavailable(f"GET {url} failed: {error}") from error
        return _json_object(response, url)


def _json_object(response: requests.Response, url: str) -> dict[str, Any]:
    try:
        if response.status_code != 200:
            raise IssuerUnavailable(f"{url} answered HTTP {response.status_code}")
        body = bytearray()
        for chunk in response.iter_content(chunk_size=64 * 1024):
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                raise IssuerUnavailable(f"{url} answered more than {MAX_RESPONSE_BYTES} bytes")
        document = json.loads(bytes(body))
    except requests.RequestException as error:
        raise IssuerUnavailable(f"reading {url} failed: {error}") from error
    except ValueError as error:
        raise IssuerUnavailable(f"{url} did not answer JSON") from error
    finally:
        response.close()
    if not isinstance(document, dict):
        raise IssuerUnavailable(f"{url} did not answer a JSON object")
    return document


def _rs256_verification_key(entry: object) -> tuple[str, RSAPublicKey] | None:
    """The entry's kid and public key, if it is an RS256 signing key we may trust."""
    # RFC 7517 §5: skip keys we cannot or must not use rather than refusing the whole set.
    if not isinstance(entry, dict) or entry.get("kty") != "RSA":
        return None
    if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
        return None
    if not isinstance(entry.get("kid"), str) or not entry["kid"]:
        return None  # tokens name their key by kid; a key without one can never be chosen
    if "d" in entry:
        return None  # a private key published by mistake is not one to trust
    if _modulus_bits(entry.get("n")) < 2048:
        return None  # RFC 7518 §3.3: RS256 keys MUST be 2048 bits or larger
    try:
        key = JWKRegistry.import_key(entry)
    except (JoseError, ValueError, TypeError):
        return None
    if not isinstance(key, RSAKey):
        return None
    public_key = key.public_key
    return (entry["kid"], public_key) if isinstance(public_key, RSAPublicKey) else None


def _modulus_bits(n: object) -> int:
    # Checked before import: joserfc would import a short key with only a warning.
    if not isinstance(n, str):
        return 0
    try:
        modulus = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(modulus, "big").bit_length()


def _is_safe_url(url: str) -> bool:
    scheme = urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and is_loopback_url(url))
