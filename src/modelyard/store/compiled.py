"""Statements of the hot write paths, compiled once and run on the driver's cursor."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["Compiled"]


class Compiled:
    """A Core statement compiled once, run on the DBAPI cursor of the current transaction.

    Logging is a stream of tiny transactions; SQLAlchemy's per-statement work (compile cache
    lookup, execution context, event dispatch) cost ~130 µs of the ~420 µs of a single
    ``log_metric`` call, and as much again for each statement of an audit record. The statement
    is still built with Core and runs inside ``Database.write()``; only the per-call overhead
    goes. Values must already be plain (str/int/float/None, or what the driver takes): no type
    processing happens here.
    """

    def __init__(self, stmt: Any, dialect: sa.Dialect, keys: tuple[str, ...]) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        self.order = tuple(compiled.positiontup) if compiled.positional else None

    def fetch(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.order is not None:
                cursor.execute(self.sql, tuple([params[k] for k in self.order]))
            else:
                cursor.execute(self.sql, params)
            return cursor.fetchall()  # type: ignore[no-any-return]
        finally:
            cursor.close()

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.order is not None:
                order = self.order
                params: list[Any] = [tuple([r[k] for k in order]) for r in rows]
            else:
                params = rows
            if len(params) == 1:
                cursor.execute(self.sql, params[0])
            else:
                cursor.executemany(self.sql, params)
        finally:
            cursor.close()
