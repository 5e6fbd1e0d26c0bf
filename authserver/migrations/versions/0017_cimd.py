"""OAuth Client ID Metadata Documents

Revision ID: 0017_cimd
Revises: 0016_backchannel
Create Date: 2026-12-06 00:45:00.000000

A client_id may be the URL of a Client ID Metadata Document, so clients.client_id and
audit_events.client_id (the only columns that store a client_id as text; every other table
points at clients.id) widen from 64 to 2048 characters. Clients made from a document are marked
and keep when it was fetched and until when that copy is trusted, and its client_uri; documents
that could not be had are remembered briefly in a table of their own.

The downgrade refuses, changing nothing, while any client came from a metadata document or any
audit event names a client_id longer than 64 characters (the narrower columns cannot hold them),
unless told `-x drop_data=yes`: then those clients are deleted (with their consents and tokens)
and those audit events lose their client_id.
"""
from alembic import op
import sqlalchemy as sa

from authserver.migrations.guard import refuse_losing


# revision identifiers, used by Alembic.
revision = '0017_cimd'
down_revision = '0016_backchannel'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.alter_column(
            'client_id',
            existing_type=sa.String(length=64),
            type_=sa.String(length=2048),
            existing_nullable=False,
        )
        batch_op.add_column(
            sa.Column('metadata_document', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column('metadata_fetched_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('metadata_expires_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('client_uri', sa.String(length=2000), nullable=True))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column(
            'client_id',
            existing_type=sa.String(length=64),
            type_=sa.String(length=2048),
            existing_nullable=True,
        )
    op.create_table(
        'metadata_document_failures',
        sa.Column('url_hash', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('retry_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('url_hash', name=op.f('pk_metadata_document_failures')),
    )
    with op.batch_alter_table('metadata_document_failures', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_metadata_document_failures_retry_at'), ['retry_at'], unique=False
        )


def downgrade():
    refuse_losing(
        '0017_cimd',
        [
            (
                "SELECT count(*) FROM clients WHERE metadata_document OR length(client_id) > 64",
                "client(s) named by a metadata document URL would be deleted, with their "
                "consents and tokens (revoke them with `authserver clients delete` first)",
            ),
            (
                "SELECT count(*) FROM audit_events WHERE length(client_id) > 64",
                "audit event(s) would lose the metadata document URL they name as client_id",
            ),
        ],
    )
    # Reached only when nothing is lost or the operator accepted the loss (-x drop_data=yes).
    op.execute("DELETE FROM clients WHERE metadata_document OR length(client_id) > 64")
    op.execute("UPDATE audit_events SET client_id = NULL WHERE length(client_id) > 64")
    # A cache of recent failures: nothing in it is anyone's data.
    with op.batch_alter_table('metadata_document_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metadata_document_failures_retry_at'))
    op.drop_table('metadata_document_failures')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column(
            'client_id',
            existing_type=sa.String(length=2048),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('client_uri')
        batch_op.drop_column('metadata_expires_at')
        batch_op.drop_column('metadata_fetched_at')
        batch_op.drop_column('metadata_document')
        batch_op.alter_column(
            'client_id',
            existing_type=sa.String(length=2048),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
