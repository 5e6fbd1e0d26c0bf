"""Flask extensions, created unbound and bound in ``create_app``."""

from pathlib import Path

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

#: Where ``flask --app resource_api db ...`` finds its scripts, wherever the app is started from.
MIGRATIONS_DIRECTORY = str(Path(__file__).resolve().parent / "migrations")


class Base(DeclarativeBase):
    # Named constraints, so later migrations can drop or alter them by name on every database.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=MIGRATIONS_DIRECTORY)
