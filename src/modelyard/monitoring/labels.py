"""Ground truth checked against the predictions it labels.

A label is compared with its prediction as text when a window is evaluated (``1``, ``1.0`` and
``"1"`` are one class; ``True`` is ``"true"``; see :mod:`.performance`), so a label the model
can never predict — ``"approved"`` for a 0/1 classifier — would silently count as a miss on
every row and wreck precision and recall. :func:`label_domains` reads, for each labelled id,
what its model answered (from the prediction log, through its reader: the id indexes of the
id's date, then this machine's pending segments), and :class:`LabelDomain` says which labels
fit it:

* the model logged class probabilities: the label must be one of those classes;
* otherwise, by the type of the logged prediction: an integer prediction takes an integer
  label, a boolean one ``true``/``false`` (or 1/0), a float one any number; a string
  prediction takes any label (its classes are not known).

Ids not found in the log (a label may come before its prediction is compacted on another
machine) are not checked here; the evaluation leaves such labels out of the figures when they
do not fit and says so in a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..artifacts.store import ArtifactStore
from ..predictions.reader import lookup

__all__ = ["LabelDomain", "class_text", "label_domains", "label_text"]

_PROBA = "output.proba."
_INTEGER = re.compile(r"-?\d+")


def label_text(value: Any) -> str:
    """A label as the class text it is compared with (``True`` -> ``"true"``, ``1.0`` -> ``"1"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def class_text(name: str) -> str:
    """A logged class name (``str()`` of the model's class) as label text."""
    return name.lower() if name in ("True", "False") else name


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class LabelDomain:
    """What labels fit the predictions of one model version (see the module docstring).

    ``kind``: ``classes`` (``classes`` holds the class texts), ``integer``, ``bool``,
    ``number`` or ``string``."""

    model: str
    kind: str
    classes: tuple[str, ...] = ()

    def accepts(self, label: Any) -> bool:
        if self.kind == "classes":
            return label_text(label) in self.classes
        if self.kind == "integer":
            return not isinstance(label, bool) and _INTEGER.fullmatch(label_text(label)) is not None
        if self.kind == "bool":
            return label_text(label) in ("true", "false", "0", "1")
        if self.kind == "number":
            return _is_number(label)
        return True

    def expected(self) -> str:
        """What fits, for an error message: ``one of the classes of loans/1 ('0', '1')``."""
        if self.kind == "classes":
            return (f"one of the classes of model {self.model} "
                    f"({', '.join(repr(c) for c in self.classes)})")
        what = {"integer": "an integer class", "bool": "true or false", "number": "a number",
                "string": "a label"}[self.kind]
        return f"{what}, as model {self.model} predicts"


def _domain(row: dict[str, Any]) -> LabelDomain:
    model = f"{row.get('model_name')}/{row.get('model_version')}"
    classes = sorted(class_text(k[len(_PROBA):]) for k, v in row.items()
                     if k.startswith(_PROBA) and v is not None)
    if classes:
        return LabelDomain(model, "classes", tuple(classes))
    pred = row.get("output.prediction")
    if isinstance(pred, bool):
        return LabelDomain(model, "bool")
    if isinstance(pred, int):
        return LabelDomain(model, "integer")
    if isinstance(pred, float):
        return LabelDomain(model, "number")
    return LabelDomain(model, "string")


def label_domains(artifacts: ArtifactStore, log_dir: Any, ids: Iterable[str],
                  endpoint: str | None = None) -> dict[str, LabelDomain]:
    """The domain of each id found in the prediction log (ids as 32 lowercase hex), read
    through the log's reader (:func:`modelyard.predictions.reader.lookup`: the id indexes of
    the ids' dates, the row groups that hold them, the segments that cover them) and only the
    model and output columns; ``endpoint``: ids of other endpoints are left out."""
    wanted = ("model_name", "model_version", "output.prediction")
    rows = lookup(artifacts, ids, log_dir=log_dir,
                  columns=lambda c: c in wanted or c.startswith(_PROBA) or c == "endpoint")
    found: dict[str, LabelDomain] = {}
    seen: dict[LabelDomain, LabelDomain] = {}
    for pid, row in rows.items():
        if endpoint is not None and row.get("endpoint") != endpoint:
            continue
        d = _domain(row)
        found[pid] = seen.setdefault(d, d)
    return found
