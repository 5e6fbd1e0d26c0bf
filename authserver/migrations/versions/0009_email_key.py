"""Users: email_key, one account per set of addresses that read alike

Revision ID: 0009_email_key
Revises: 0008_audit_repeats
Create Date: 2026-12-05 19:30:00.000000

Addresses are stored in NFC from now on; the key (the SHA-256 of the address's skeleton: no
invisible characters, NFKC, case folded) is what sign-up compares, so a fullwidth, decomposed
or otherwise look-alike spelling of a taken address is taken too. Existing addresses are left
as they were stored (a person logs in with what they typed, found by address or by key). If
look-alike accounts already exist, the oldest gets the key and the others none: each is still
found by its own address, and the migration names them in its log for the operator.
"""
import hashlib
import logging
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_email_key'
down_revision = '0008_audit_repeats'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# Frozen here as services.users.email_key defines it today (tests check they agree).
_VARIATION_SELECTORS = frozenset([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


def _email_key(email):
    visible = "".join(
        ch
        for ch in email.strip()
        if unicodedata.category(ch) != "Cf" and ord(ch) not in _VARIATION_SELECTORS
    )
    skeleton = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    return hashlib.sha256(skeleton.encode("utf-8", "surrogatepass")).hexdigest()


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_key', sa.String(length=64), nullable=True))

    users = sa.table(
        'users',
        sa.column('id', sa.Integer),
        sa.column('email', sa.String),
        sa.column('email_key', sa.String),
        sa.column('created_at', sa.DateTime),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(users.c.id, users.c.email).order_by(users.c.created_at, users.c.id)
    ).all()
    holders: dict[str, int] = {}  # email key -> the id of the user who keeps it
    for user_id, email in rows:
        key = _email_key(email)
        if key in holders:
            log.warning(
                "users %s and %s have addresses that read alike; only the older one (%s) "
                "keeps the key that refuses new look-alikes",
                holders[key],
                user_id,
                holders[key],
            )
            continue
        holders[key] = user_id
        connection.execute(users.update().where(users.c.id == user_id).values(email_key=key))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_users_email_key'), ['email_key'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_email_key'), type_='unique')
        batch_op.drop_column('email_key')
