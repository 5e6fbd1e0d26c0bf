"""DPoP proofs already used (RFC 9449 §11.1)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 00:45:00

Rows live for a minute: the downgrade loses nothing worth keeping.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dpop_proofs",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_dpop_proofs")),
    )
    op.create_index(
        op.f("ix_dpop_proofs_expires_at"), "dpop_proofs", ["expires_at"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_dpop_proofs_expires_at"), table_name="dpop_proofs")
    op.drop_table("dpop_proofs")
