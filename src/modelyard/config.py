"""Settings, built once at an entry point (``connect``, the CLI, a server) and passed down.

Nothing below this module reads ``os.environ``. Precedence: explicit arguments, then
environment variables (``MODELYARD_*``), then defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Settings"]


class Settings(BaseModel):
    """Where the yard lives and how it behaves.

    home: folder for the embedded default (SQLite file, artifacts, prediction log).
    database_url: SQLAlchemy URL; default ``sqlite:///{home}/modelyard.db``.
    artifacts_url: any fsspec URL; default ``{home}/artifacts``.
    token: bearer token a client sends to a remote yard.
    """

    # A plain model: ``load`` reads the ``MODELYARD_*`` variables itself (pydantic-settings
    # would cost every command ~0.15 s of imports for the same four lines).
    model_config = ConfigDict(extra="ignore")

    home: Path = Field(default=Path(".modelyard"))
    database_url: str | None = None
    artifacts_url: str | None = None
    token: str | None = None
    # a shared server's own settings
    auth_enabled: bool = False
    max_request_bytes: int = 64 * 1024 * 1024
    # sign the audit log's head this often (seconds; 0: only on 'modelyard audit checkpoint')
    audit_checkpoint_interval: float = 3600.0
    # prediction log
    prediction_log_dir: Path | None = None
    # where compacted Parquet of the log goes and is read (default: the artifact store); a
    # model server far from its yard (a bundle's pod) ships its log to the yard's store here
    prediction_log_url: str | None = None
    durability: str = "durable"  # "durable" | "async"
    # the key of the prediction log's keyed hashes (masked personal columns): any string; when
    # unset, one is generated once and kept in {home}/privacy.key (mode 0600)
    privacy_secret: str | None = None
    # alert webhooks (monitoring.delivery): tries per delivery, the first wait between tries
    # (doubling, at most an hour), one try's timeout, and how long a process holds a delivery
    # it is trying (after a crash another process takes it up once this has passed)
    webhook_attempts: int = 10
    webhook_backoff_s: float = 5.0
    webhook_timeout_s: float = 5.0
    webhook_lease_s: float = 60.0

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``environ`` (default: the process environment) plus overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            key = f"MODELYARD_{name.upper()}"
            if key in env:
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home.resolve() / 'modelyard.db'}"

    @property
    def resolved_artifacts_url(self) -> str:
        if self.artifacts_url:
            return self.artifacts_url
        return str(self.home.resolve() / "artifacts")

    @property
    def resolved_prediction_log_dir(self) -> Path:
        if self.prediction_log_dir is not None:
            return self.prediction_log_dir
        return self.home.resolve() / "predlog"
