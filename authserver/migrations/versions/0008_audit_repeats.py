"""audit events count their repeats

Revision ID: 0008_audit_repeats
Revises: 0007_operator
Create Date: 2026-12-03 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from authserver.migrations.guard import refuse_losing


# revision identifiers, used by Alembic.
revision = '0008_audit_repeats'
down_revision = '0007_operator'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('repeats', sa.Integer(), server_default=sa.text('1'), nullable=False)
        )
        batch_op.add_column(sa.Column('last_at', sa.DateTime(), nullable=True))


def downgrade():
    refuse_losing(
        '0008_audit_repeats',
        [
            (
                "SELECT count(*) FROM audit_events WHERE repeats > 1",
                "audit event(s) would lose how often they repeated",
            ),
        ],
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('last_at')
        batch_op.drop_column('repeats')
