"""SQLAlchemy typed models, one module per domain. Importing this package registers every table
on ``Base.metadata`` (Alembic's autogenerate and the migrations read it)."""

from . import (  # noqa: F401
    audit,
    auth,
    automation,
    datasets,
    explain,
    monitoring,
    pipelines,
    registry,
    serving,
    tracking,
    validation,
)
from .base import Base

__all__ = ["Base"]
