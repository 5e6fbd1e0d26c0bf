"""Alembic environment for the resource API, run by Flask-Migrate inside the app context."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config

# Log as alembic.ini says when run from the command line; a host that set up logging already
# (gunicorn, pytest) keeps its own handlers and loggers.
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``flask db upgrade --sql``)."""
    url = target_db.engine.url.render_as_string(hide_password=False)
    context.configure(
        url=url,
        target_metadata=target_db.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def process_revision_directives(context, revision, directives):
        # `flask db migrate` with nothing to change writes no empty revision.
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    conf_args.setdefault("render_as_batch", True)

    with target_db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
