"""The ground: SQL schema, migrations and one engine factory."""

from .database import Database, open_database

__all__ = ["Database", "open_database"]
