"""Mail: the outbox, one-time links, verified addresses

Revision ID: 0011_mail
Revises: 0010_signing_keys_encrypted
Create Date: 2026-12-05 21:40:00.000000

The downgrade would drop mail not yet sent, links people may still follow and which addresses
were verified: it refuses while any of them exists, unless run with
``authserver db downgrade -x drop_mail_data=yes`` (which says what it drops).
"""
from alembic import context, op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_mail'
down_revision = '0010_signing_keys_encrypted'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('payload', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('claimed_until', sa.DateTime(), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('gave_up_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index(
            'ix_outbox_messages_due', ['sent_at', 'gave_up_at', 'next_attempt_at'], unique=False
        )
    op.create_table(
        'one_time_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('new_email', sa.String(length=320), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_one_time_links_user_id_users'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_one_time_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_one_time_links_token_hash')),
    )
    with op.batch_alter_table('one_time_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_one_time_links_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(), nullable=True))


def _would_drop():
    connection = op.get_bind()
    counts = {
        'mail not yet sent': "SELECT count(*) FROM outbox_messages "
        "WHERE sent_at IS NULL AND gave_up_at IS NULL",
        'unused one-time links': "SELECT count(*) FROM one_time_links WHERE used_at IS NULL",
        'verified addresses': "SELECT count(*) FROM users WHERE email_verified_at IS NOT NULL",
    }
    found = {what: connection.execute(sa.text(query)).scalar() for what, query in counts.items()}
    return {what: count for what, count in found.items() if count}


def downgrade():
    dropping = _would_drop()
    if dropping and context.get_x_argument(as_dictionary=True).get('drop_mail_data') != 'yes':
        listed = ', '.join(f'{count} {what}' for what, count in dropping.items())
        raise RuntimeError(
            f'Refusing to downgrade: it would drop {listed}. Run it again with '
            '`-x drop_mail_data=yes` to drop them.'
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
    with op.batch_alter_table('one_time_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_one_time_links_user_id'))
    op.drop_table('one_time_links')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_due')
    op.drop_table('outbox_messages')
