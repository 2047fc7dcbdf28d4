"""Structured logs: one JSON object per line (time, level, logger, message and any
``extra=`` fields), for the model server and uvicorn alike."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["JsonFormatter", "logging_config"]

_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return orjson.dumps(out, default=str).decode()


def logging_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (and uvicorn ``log_config``) writing JSON to stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "modelyard.serving.logs.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "modelyard": {"handlers": ["json"], "level": lvl, "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": lvl, "propagate": False},
            "uvicorn.error": {"handlers": ["json"], "level": lvl, "propagate": False},
            "uvicorn.access": {"handlers": ["json"], "level": lvl, "propagate": False},
        },
    }
