"""resource indicators (RFC 8707): resources registered to clients, requested with codes,
granted with token families; device authorizations (RFC 8628)

Revision ID: 0012_grants
Revises: 0011_mail
Create Date: 2026-12-05 21:50:00.000000

The downgrade refuses, changing nothing, while any of it holds data: a registered resource or a
grant for a resource other than the default audience would silently become one for the default.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_grants'
down_revision = '0011_mail'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'client_resources',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('uri', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ['client_id'], ['clients.id'],
            name=op.f('fk_client_resources_client_id_clients'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_client_resources')),
        sa.UniqueConstraint('client_id', 'uri', name=op.f('uq_client_resources_client_id')),
    )
    with op.batch_alter_table('client_resources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_resources_uri'), ['uri'], unique=False)
    op.create_table(
        'device_authorizations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_code_hash', sa.String(length=64), nullable=False),
        sa.Column('user_code_hash', sa.String(length=64), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=500), nullable=False),
        sa.Column('resources', sa.JSON(), server_default='[]', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('interval', sa.Integer(), nullable=False),
        sa.Column('last_polled_at', sa.DateTime(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('granted_scope', sa.String(length=500), nullable=True),
        sa.Column('auth_time', sa.DateTime(), nullable=True),
        sa.Column('session_id', sa.String(length=64), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('redeemed_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['client_id'], ['clients.id'],
            name=op.f('fk_device_authorizations_client_id_clients'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'],
            name=op.f('fk_device_authorizations_user_id_users'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_device_authorizations')),
        sa.UniqueConstraint(
            'device_code_hash', name=op.f('uq_device_authorizations_device_code_hash')
        ),
        sa.UniqueConstraint(
            'user_code_hash', name=op.f('uq_device_authorizations_user_code_hash')
        ),
    )
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('resources', sa.JSON(), server_default='[]', nullable=False)
        )
    with op.batch_alter_table('token_families', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('resources', sa.JSON(), server_default='[]', nullable=False)
        )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('resources', sa.JSON(), server_default='[]', nullable=False)
        )


def _refuse_if_data():
    bind = op.get_bind()
    checks = {
        'client_resources': "SELECT count(*) FROM client_resources",
        'device_authorizations': "SELECT count(*) FROM device_authorizations",
        'authorization_codes.resources': (
            "SELECT count(*) FROM authorization_codes WHERE CAST(resources AS TEXT) <> '[]'"
        ),
        'token_families.resources': (
            "SELECT count(*) FROM token_families WHERE CAST(resources AS TEXT) <> '[]'"
        ),
        'consents.resources': (
            "SELECT count(*) FROM consents WHERE CAST(resources AS TEXT) <> '[]'"
        ),
    }
    held = [name for name, query in checks.items() if bind.execute(sa.text(query)).scalar()]
    if held:
        raise RuntimeError(
            "Refusing to downgrade below 0011_grants: resource indicators are in use "
            f"({', '.join(held)}); dropping them would widen or lose grants. Remove them first."
        )


def downgrade():
    _refuse_if_data()
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('resources')
    with op.batch_alter_table('token_families', schema=None) as batch_op:
        batch_op.drop_column('resources')
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('resources')
    with op.batch_alter_table('client_resources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_resources_uri'))
    op.drop_table('client_resources')
    op.drop_table('device_authorizations')
