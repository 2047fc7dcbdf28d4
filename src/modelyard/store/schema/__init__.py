"""SQLAlchemy typed models, one module per domain. Importing this package registers every table
on ``Base.metadata`` (Alembic's autogenerate and the migrations read it)."""

from . import registry, tracking  # noqa: F401  (register tables)
from .base import Base

__all__ = ["Base"]
