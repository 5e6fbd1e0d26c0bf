"""The consent and the code it leads to are stored together, or not at all."""

from __future__ import annotations

import pytest

from authserver.extensions import db
from authserver.models import AuthorizationCode, Consent
from authserver.services import codes
from tests.helpers import authorize_url, consent


def test_a_failure_while_issuing_the_code_keeps_no_consent(
    app, logged_in, confidential_client, monkeypatch
):
    """SPEC, Policy: bad input of any kind ... changes nothing. Were the consent kept while the
    code failed, the next request would skip the consent page on a decision the app never got."""

    def storage_fails(*args: object, **kwargs: object) -> str:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(codes, "hash_secret", storage_fails)
    with pytest.raises(RuntimeError):
        consent(logged_in, authorize_url(confidential_client))
    with app.app_context():
        assert db.session.query(Consent).count() == 0
        assert db.session.query(AuthorizationCode).count() == 0


def test_granting_nothing_is_still_remembered(app, logged_in, confidential_client):
    """A person who unticks every box has answered; nothing is connected and no code is issued
    (RFC 6749 §4.1.2.1 access_denied), and earlier grants for these scopes are withdrawn."""
    first = consent(logged_in, authorize_url(confidential_client, scope="events:read"))
    assert first.status_code == 302
    url = authorize_url(confidential_client, scope="events:read", prompt="consent")
    response = consent(logged_in, url, scopes=[])
    assert "error=access_denied" in response.headers["Location"]
    with app.app_context():
        assert db.session.query(Consent).count() == 0
