"""signing keys can be withdrawn from the JWKS at once (a leaked key)

Revision ID: 0014_ops
Revises: 0013_factors
Create Date: 2026-12-05 22:15:00.000000

Safe with old nodes running: they ignore the column, but they would keep publishing a key
withdrawn meanwhile, so withdraw keys only once every node runs this version.
"""
from alembic import op
import sqlalchemy as sa

from authserver.migrations.guard import refuse_losing


# revision identifiers, used by Alembic.
revision = '0014_ops'
down_revision = '0013_factors'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(), nullable=True))


def downgrade():
    refuse_losing(
        '0011_ops',
        [
            (
                "SELECT count(*) FROM signing_keys WHERE withdrawn_at IS NOT NULL",
                "withdrawn signing key(s) would be published again (run `authserver cleanup` "
                "to delete them first)",
            ),
        ],
    )
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
