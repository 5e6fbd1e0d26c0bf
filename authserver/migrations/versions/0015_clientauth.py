"""JWT client authentication (RFC 7523) and pushed authorization requests (RFC 9126)

Revision ID: 0015_clientauth
Revises: 0014_ops
Create Date: 2026-12-05 21:45:00.000000

Clients keep their registered token_endpoint_auth_method, their public keys (jwks or jwks_uri),
for client_secret_jwt their secret encrypted under the key-encryption key, and whether they must
use PAR; pushed requests live in a table of their own for their 60 seconds.

The downgrade refuses, changing nothing, while any client authenticates with a JWT or must use
PAR: the older version could not authenticate it, and would silently drop its keys.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_clientauth'
down_revision = '0014_ops'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_method', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('jwks', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('jwks_uri', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('sealed_secret', sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                'require_pushed_authorization_requests',
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )

    op.create_table('pushed_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_uri_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_pushed_requests_client_id_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pushed_requests')),
    sa.UniqueConstraint('request_uri_hash', name=op.f('uq_pushed_requests_request_uri_hash'))
    )
    with op.batch_alter_table('pushed_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pushed_requests_expires_at'), ['expires_at'], unique=False)


def downgrade():
    clients = sa.table(
        'clients',
        sa.column('auth_method', sa.String),
        sa.column('require_pushed_authorization_requests', sa.Boolean),
    )
    bound = op.get_bind().execute(
        sa.select(sa.func.count()).select_from(clients).where(
            sa.or_(
                clients.c.auth_method.in_(['private_key_jwt', 'client_secret_jwt']),
                clients.c.require_pushed_authorization_requests.is_(sa.true()),
            )
        )
    ).scalar()
    if bound:
        raise RuntimeError(
            f"Cannot downgrade: {bound} client(s) authenticate with private_key_jwt or "
            "client_secret_jwt, or must use pushed authorization requests; the older version "
            "would drop their keys. Delete or re-register them first."
        )
    # Pushed requests live 60 seconds: dropping the table loses nothing a person would miss.
    with op.batch_alter_table('pushed_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pushed_requests_expires_at'))
    op.drop_table('pushed_requests')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('require_pushed_authorization_requests')
        batch_op.drop_column('sealed_secret')
        batch_op.drop_column('jwks_uri')
        batch_op.drop_column('jwks')
        batch_op.drop_column('auth_method')
