"""OpenID Connect Back-Channel Logout 1.0

Revision ID: 0016_backchannel
Revises: 0015_clientauth
Create Date: 2026-12-05 23:15:00.000000

Clients keep their backchannel_logout_uri and whether they require sid; outbox messages may
carry an expiry of their own (a logout token is worthless after its exp).

The downgrade refuses, changing nothing, while any client has a backchannel_logout_uri (the
older version would silently drop it and the client would never hear of a logout again),
unless told `-x drop_data=yes`.
"""
from alembic import op
import sqlalchemy as sa

from authserver.migrations.guard import refuse_losing


# revision identifiers, used by Alembic.
revision = '0016_backchannel'
down_revision = '0015_clientauth'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('backchannel_logout_uri', sa.String(length=2000), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                'backchannel_logout_session_required',
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))


def downgrade():
    refuse_losing(
        '0016_backchannel',
        [
            (
                "SELECT count(*) FROM clients WHERE backchannel_logout_uri IS NOT NULL",
                "client(s) with a backchannel_logout_uri would never be told of a logout again "
                "(register them again without one, or delete them)",
            ),
        ],
    )
    # The expiry only shortens a message's retries; the general horizon still ends them.
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('backchannel_logout_session_required')
        batch_op.drop_column('backchannel_logout_uri')
