"""DPoP (RFC 9449)

Revision ID: 0018_dpop
Revises: 0017_cimd
Create Date: 2026-12-06 00:45:00.000000

Clients may be registered for DPoP-bound access tokens only; authorization codes keep the
request's dpop_jkt; token families keep the key a public client's refresh tokens are bound to.

The downgrade refuses, changing nothing, while any client requires DPoP, any code awaits a
DPoP key or any grant's refresh tokens are bound to one: the older version would silently drop
the binding, and a stolen refresh token would work without the key.
"""
from alembic import op
import sqlalchemy as sa

from authserver.migrations.guard import refuse_losing


# revision identifiers, used by Alembic.
revision = '0018_dpop'
down_revision = '0017_cimd'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'dpop_bound_access_tokens',
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=43), nullable=True))
    with op.batch_alter_table('token_families', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=43), nullable=True))


def downgrade():
    refuse_losing(
        '0018_dpop',
        [
            (
                "SELECT count(*) FROM clients WHERE dpop_bound_access_tokens",
                "client(s) registered for DPoP-bound tokens would get bearer tokens "
                "(register them again without dpop_bound_access_tokens, or delete them)",
            ),
            (
                "SELECT count(*) FROM authorization_codes WHERE dpop_jkt IS NOT NULL",
                "authorization code(s) bound to a DPoP key would be redeemable without it "
                "(wait until they expire and `authserver cleanup` removes them)",
            ),
            (
                "SELECT count(*) FROM token_families WHERE dpop_jkt IS NOT NULL AND revoked_at IS NULL",
                "live grant(s) whose refresh tokens are bound to a DPoP key would refresh without it "
                "(revoke them with `authserver tokens revoke`)",
            ),
        ],
    )
    with op.batch_alter_table('token_families', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('dpop_bound_access_tokens')
