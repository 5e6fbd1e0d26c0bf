"""Signing keys' private keys encrypted at rest under the key-encryption key

Revision ID: 0010_signing_keys_encrypted
Revises: 0009_email_key
Create Date: 2026-12-09 10:00:00.000000

The column keeps its name and type; its values change from PEM text to
``v1:<kek id>:<base64url(nonce | AES-256-GCM ciphertext)>`` with the kid as associated data,
encrypted under the key-encryption key of the app running the upgrade
(AUTHSERVER_KEY_ENCRYPTION_KEY, else derived from AUTHSERVER_SECRET_KEY). Nodes still running an
older version cannot sign once this has run: upgrade them together.

The downgrade decrypts the keys back, and refuses, changing nothing, if one cannot be decrypted
with the configured keys: no key is ever dropped silently.

The v1 format is written out here rather than imported, so that this revision does the same
thing however ``authserver/security/key_wrapping.py`` evolves (which keeps reading v1).
"""
import base64
import hashlib
import hmac
import os

from alembic import context, op
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0010_signing_keys_encrypted'
down_revision = '0009_email_key'
branch_labels = None
depends_on = None

signing_keys = sa.table(
    'signing_keys',
    sa.column('id', sa.Integer),
    sa.column('kid', sa.String),
    sa.column('private_pem', sa.Text),
)


def _kek(secret):
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"authserver signing-key encryption v1"
    ).derive(secret.encode())
    return hmac.new(key, b"authserver key-encryption key id", hashlib.sha256).hexdigest()[:8], key


def _keks():
    """(current (id, key), {id: key} of every configured KEK), from the app's settings."""
    config = current_app.config
    current = _kek(config.get("KEY_ENCRYPTION_KEY") or config["SECRET_KEY"])
    previous = config.get("KEY_ENCRYPTION_KEY_PREVIOUS") or ()
    if isinstance(previous, str):
        previous = previous.split()
    return current, dict([current, *(_kek(secret) for secret in previous)])


def _associated_data(kid):
    return f"authserver signing key v1\0{kid}".encode()


def _wrap(pem, kid, kek):
    kek_id, key = kek
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, pem.encode(), _associated_data(kid))
    return f"v1:{kek_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def _unwrap(stored, kid, keks):
    """The PEM, or the reason it cannot be had."""
    version, kek_id, body = (stored.split(":", 2) + ["", ""])[:3]
    if version != "v1":
        return None, f"signing key {kid} is in an unknown format"
    if kek_id not in keks:
        return None, (
            f"signing key {kid} is encrypted under key-encryption key {kek_id}, which is not "
            "configured; set it in AUTHSERVER_KEY_ENCRYPTION_KEY or "
            "AUTHSERVER_KEY_ENCRYPTION_KEY_PREVIOUS"
        )
    try:
        raw = base64.urlsafe_b64decode(body.encode())
        plain = AESGCM(keks[kek_id]).decrypt(raw[:12], raw[12:], _associated_data(kid))
    except (ValueError, InvalidTag):
        return None, f"signing key {kid} does not decrypt under key-encryption key {kek_id}"
    return plain.decode(), None


def _is_plaintext(stored):
    return stored.lstrip().startswith("-----BEGIN")


def _rows():
    if context.is_offline_mode():
        raise RuntimeError(
            "0010_signing_keys_encrypted encrypts the stored keys: run it against the database, "
            "not as SQL (--sql)."
        )
    return op.get_bind().execute(
        sa.select(signing_keys.c.id, signing_keys.c.kid, signing_keys.c.private_pem)
    ).all()


def _store(row_id, value):
    op.get_bind().execute(
        sa.update(signing_keys).where(signing_keys.c.id == row_id).values(private_pem=value)
    )


def upgrade():
    current, _ = _keks()
    for row_id, kid, stored in _rows():
        if _is_plaintext(stored):
            _store(row_id, _wrap(stored, kid, current))


def downgrade():
    _, keks = _keks()
    decrypted, problems = [], []
    for row_id, kid, stored in _rows():
        if _is_plaintext(stored):
            continue
        pem, problem = _unwrap(stored, kid, keks)
        if problem:
            problems.append(problem)
        else:
            decrypted.append((row_id, pem))
    if problems:
        # Before any change: the older version cannot read encrypted keys, so a key left
        # encrypted would be as good as dropped.
        raise RuntimeError("Cannot downgrade: " + "; ".join(problems) + ".")
    for row_id, pem in decrypted:
        _store(row_id, pem)
