"""What the prediction log may keep of a request: masking of personal columns, and the key of
the keyed hashes.

A column of a model's training data whose data-dictionary entry has ``sensitivity:
personal`` (or ``confidential``; :data:`MASKED_LEVELS`) is masked in the records of every
endpoint that serves the model, before the record is encoded (the write-ahead segments never
hold the raw value), as the endpoint's ``privacy`` says (``serving/endpoints.py``)::

    privacy:
      mask: hash              # drop | hash (default) | keep: for flagged columns
      columns: {zip: drop, name: hash, age: keep}   # per column, flagged or not

``hash`` replaces the value by ``hmac-sha256:<hex>`` of its JSON text under the server's
secret (:func:`load_secret`), so equal values still join (and group) while the value itself
cannot be read back without the secret; ``drop`` leaves the column out of the record.

The secret: ``Settings.privacy_secret`` (``MODELYARD_PRIVACY_SECRET``), else the file
``{home}/privacy.key``, generated at first use with mode 0600. Servers that share a log
must share the secret, or equal values hash differently on each.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..config import Settings
from ..errors import NotFound

__all__ = [
    "HASH_PREFIX",
    "MASKED_LEVELS",
    "MaskPlan",
    "keyed_hash",
    "load_secret",
    "mask_plan",
    "sensitive_columns",
]

log = logging.getLogger("modelyard.predictions")

MASKED_LEVELS = ("personal", "confidential")
HASH_PREFIX = "hmac-sha256:"
SECRET_FILE = "privacy.key"


def load_secret(settings: Settings) -> bytes:
    """The key of the log's keyed hashes: ``settings.privacy_secret``, else the contents of
    ``{home}/privacy.key`` (created with 32 random bytes, mode 0600, when it is missing)."""
    if settings.privacy_secret:
        return settings.privacy_secret.encode("utf-8")
    path = Path(settings.home).resolve() / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:  # O_EXCL: of two processes creating it at once, one writes and both read its key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def keyed_hash(secret: bytes, value: Any) -> str:
    """``hmac-sha256:<hex>`` of ``value``'s JSON text (so ``1`` and ``"1"`` differ)."""
    data = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    return HASH_PREFIX + hmac.new(secret, data, hashlib.sha256).hexdigest()


def sensitive_columns(yard: Any, model_name: str, version: int) -> dict[str, str]:
    """``{column: sensitivity}`` of the columns flagged :data:`MASKED_LEVELS` in the data
    dictionary of the datasets the run that made ``model_name/version`` read."""
    mv = yard.models.get(f"{model_name}/{version}")
    if not mv.run_id:
        return {}
    try:
        run = yard.runs.get(mv.run_id)
    except NotFound:
        return {}
    out: dict[str, str] = {}
    for item in run.inputs:
        try:
            entries = yard.datasets.dictionary(item.dataset)
        except NotFound:
            continue
        for entry in entries:
            level = (entry.sensitivity or "").strip().lower()
            if level in MASKED_LEVELS:
                out[entry.column] = level
    return out


@dataclass(frozen=True)
class MaskPlan:
    """What happens to each input column of one model on one endpoint: ``drop`` or ``hash``
    (columns not named are kept). ``everything``: mask every column with it (the sensitive
    columns could not be found out: fail closed)."""

    columns: Mapping[str, str] = field(default_factory=dict)
    everything: str | None = None

    @property
    def empty(self) -> bool:
        return not self.columns and self.everything is None

    def apply(self, inputs: Mapping[str, Any], secret: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in inputs.items():
            how = self.everything or self.columns.get(name, "keep")
            if how == "drop":
                continue
            out[name] = value if how == "keep" or value is None else keyed_hash(secret, value)
        return out


def mask_plan(flagged: Mapping[str, str] | None, mask: str, columns: Mapping[str, str]
              ) -> MaskPlan:
    """The plan for one model on one endpoint: ``flagged`` columns (None: unknown) masked as
    ``mask``, then the endpoint's per-column choices on top."""
    if flagged is None:
        return MaskPlan(everything="drop" if mask == "drop" else "hash") \
            if mask != "keep" else MaskPlan({k: v for k, v in columns.items() if v != "keep"})
    plan = {c: mask for c in flagged}
    plan.update(columns)
    return MaskPlan({k: v for k, v in plan.items() if v != "keep"})
