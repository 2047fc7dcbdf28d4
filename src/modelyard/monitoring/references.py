"""Where a monitor's reference comes from.

* ``"dataset:NAME[/VERSION]"``: a stored dataset version; its rows (up to
  :data:`REFERENCE_MAX_ROWS`, exact tests) or, when larger, its stored profile (histograms and
  top categories; approximate numerical tests).
* ``"window:START/END"``: an earlier window of the same endpoint's prediction log (inputs
  *and* outputs, so prediction drift has a reference too).
* a DataFrame (pandas, polars, Arrow) given directly.
* nothing: lineage. The model version that served a prediction was logged by a run, and the
  run recorded the dataset versions it trained on (role ``training``): that dataset is the
  reference, and the model's own predictions on a sample of it are the reference for
  prediction drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..clock import parse_time
from ..errors import InvalidParameter, ModelyardError
from .drift import DriftDetector
from .entities import Finding
from .outliers import OutlierDetector
from .tables import as_table

__all__ = ["PREDICT_SAMPLE_ROWS", "REFERENCE_MAX_ROWS", "Reference", "ReferenceResolver"]

REFERENCE_MAX_ROWS = 1_000_000
"""A reference dataset up to this many rows is read whole; a larger one is used via its profile."""
PREDICT_SAMPLE_ROWS = 20_000
"""Reference rows the model predicts on to give prediction drift a reference."""

INPUT = "input."
OUTPUT = "output."


@dataclass
class Reference:
    """A fitted reference: the drift detector (inputs and, when known, outputs) and the outlier
    detector (None when only a profile is available)."""

    label: str
    drift: DriftDetector | None
    outliers: OutlierDetector | None = None
    findings: list[Finding] = field(default_factory=list)


def _strip_inputs(frame: pl.DataFrame) -> pl.DataFrame:
    """Prediction-log columns ``input.x`` become ``x``; outputs keep their names."""
    keep = [c for c in frame.columns if c.startswith((INPUT, OUTPUT))]
    if not keep:
        return frame
    return frame.select([pl.col(c).alias(c[len(INPUT):]) if c.startswith(INPUT) else pl.col(c)
                         for c in keep])


class ReferenceResolver:
    """Builds (and caches) the reference of each model version of one monitor run."""

    def __init__(self, yard: Any, endpoint: str, *, spec: Any, inputs: list[str],
                 outputs: list[str], tests: Any, thresholds: Any) -> None:
        self.yard = yard
        self.endpoint = endpoint
        self.spec = spec
        self.inputs = inputs
        self.outputs = outputs
        self.tests = tests or None
        self.thresholds = thresholds or None
        self._cache: dict[str, Reference] = {}

    def for_version(self, model_name: str | None, model_version: Any) -> Reference:
        if self.spec is not None:
            key = "explicit"
        else:
            key = f"{model_name}/{model_version}"
        if key not in self._cache:
            try:
                ref = self._build(model_name, model_version)
                if ref.drift is not None and "output.prediction" in self.outputs and (
                        "output.prediction" not in ref.drift.reference_):
                    ref.findings.append(Finding(
                        kind="no_output_reference", severity="info",
                        message=f"The reference {ref.label} has no model outputs, so prediction "
                                "drift is not computed; a 'window:START/END' reference or lineage "
                                "to the training data gives it one."))
                self._cache[key] = ref
            except ModelyardError as exc:
                self._cache[key] = Reference(label="none", drift=None, findings=[Finding(
                    kind="no_reference", severity="error",
                    message=f"No reference for {key if key != 'explicit' else self.spec!r}: "
                            f"{exc.message} Drift and outliers are skipped; set one with "
                            "`yard.monitoring.configure(endpoint, reference='dataset:NAME/VERSION')`.")])
        return self._cache[key]

    def references(self) -> list[Reference]:
        """The references built so far."""
        return list(self._cache.values())

    # ---- building -----------------------------------------------------------------------------
    def _build(self, model_name: str | None, model_version: Any) -> Reference:
        spec = self.spec
        if spec is None:
            return self._from_lineage(model_name, model_version)
        if isinstance(spec, str):
            if spec.startswith("dataset:"):
                name, version = _parse_dataset(spec)
                return self._from_dataset(name, version, model=None)
            if spec.startswith("window:"):
                return self._from_window(spec)
            raise InvalidParameter(
                "reference must be 'dataset:NAME[/VERSION]', 'window:START/END', a DataFrame or "
                f"None (lineage). Got {spec!r} instead.", field="reference")
        table = as_table(spec, field="reference")
        frame = _strip_inputs(pl.DataFrame([table.column(c) for c in table.columns]))
        return self._fit(frame, label="data")

    def _from_lineage(self, model_name: str | None, model_version: Any) -> Reference:
        if not model_name or model_version is None:
            raise InvalidParameter("the window has no model name/version to follow lineage from.",
                                   field="reference")
        ref = f"{model_name}/{model_version}"
        mv = self.yard.models.get(ref)
        if not mv.run_id:
            raise InvalidParameter(f"model version {ref} was not logged by a run, so its "
                                   "training data is unknown.", field="reference")
        run = self.yard.runs.get(mv.run_id)
        inputs = [i for i in run.inputs if i.role == "training"] or list(run.inputs)
        if not inputs:
            raise InvalidParameter(f"run {mv.run_id} (which logged {ref}) recorded no dataset "
                                   "inputs.", field="reference")
        return self._from_dataset(inputs[0].dataset, inputs[0].version, model=ref)

    def _from_dataset(self, name: str, version: int | None, *, model: str | None) -> Reference:
        dv = self.yard.datasets.get(name, version)
        label = f"dataset:{dv.name}/{dv.version}"
        columns = [c for c in self.inputs if c in {s.name for s in dv.schema_}] or None
        if dv.n_rows > REFERENCE_MAX_ROWS:
            profile = self.yard.datasets.profile(dv.name, dv.version)
            det = DriftDetector(columns=columns, tests=self.tests, thresholds=self.thresholds).fit(profile)
            return Reference(label=label, drift=det, findings=[Finding(
                kind="reference_profile", severity="info",
                message=f"{label} has {dv.n_rows:,} rows: compared with its stored profile "
                        "(approximate numerical tests); outlier scores need rows and are skipped.")])
        frame = dv.to_polars(columns=columns)
        reference = self._fit(frame, label=label)
        if model is not None and self.outputs:
            self._add_output_reference(reference, frame, model)
        return reference

    def _from_window(self, spec: str) -> Reference:
        body = spec[len("window:"):]
        start, sep, end = body.partition("/")
        if not sep:
            raise InvalidParameter(f"reference must be 'window:START/END'. Got {spec!r} instead.",
                                   field="reference")
        s, e = parse_time(start, field="reference"), parse_time(end, field="reference")
        frame = self.yard.predictions.query(self.endpoint, s, e, limit=REFERENCE_MAX_ROWS)
        if frame.height == 0:
            raise InvalidParameter(f"the reference window {spec!r} has no predictions.",
                                   field="reference")
        reference = self._fit(_strip_inputs(frame), label=spec)
        if frame.height >= REFERENCE_MAX_ROWS:  # a cap is said, never silent
            reference.findings.append(Finding(
                kind="reference_capped", severity="info", value=float(frame.height),
                message=f"the reference window {spec} holds more than {REFERENCE_MAX_ROWS:,} "
                        f"predictions: its first {REFERENCE_MAX_ROWS:,} are the reference."))
        return reference

    def _fit(self, frame: pl.DataFrame, *, label: str) -> Reference:
        wanted = [c for c in self.inputs + self.outputs if c in frame.columns]
        det = DriftDetector(columns=wanted, tests=self.tests, thresholds=self.thresholds,
                            prediction=[c for c in self.outputs if c in frame.columns]).fit(frame)
        numeric = [c for c in self.inputs if c in frame.columns]
        outliers = OutlierDetector(columns=numeric).fit(frame) if frame.height else None
        return Reference(label=label, drift=det, outliers=outliers)

    def _add_output_reference(self, reference: Reference, frame: pl.DataFrame, model: str) -> None:
        """The model's predictions on a sample of its training data: the reference of
        prediction drift when the reference is a dataset."""
        try:
            sample = frame.head(PREDICT_SAMPLE_ROWS)
            loaded = self.yard.models.load(model)
            preds = loaded.predict(sample.to_pandas())
            values = preds.to_numpy() if hasattr(preds, "to_numpy") else preds
            if getattr(values, "ndim", 1) > 1:
                values = values[:, 0]
            out = pl.DataFrame({"output.prediction": pl.Series(values)})
        except Exception as exc:  # noqa: BLE001 - any flavor may fail here; it is a finding
            reference.findings.append(Finding(
                kind="no_output_reference", severity="info",
                message=f"Prediction drift has no reference: predicting with {model} on its "
                        f"training data failed ({type(exc).__name__}: {exc})."))
            return
        if "output.prediction" not in self.outputs or reference.drift is None:
            return
        det = DriftDetector(columns=["output.prediction"], tests=self.tests,
                            thresholds=self.thresholds).fit(out)
        reference.drift.reference_.update(det.reference_)
        reference.drift.prediction_ = set(reference.drift.prediction_) | {"output.prediction"}


def _parse_dataset(spec: str) -> tuple[str, int | None]:
    body = spec[len("dataset:"):]
    name, _, version = body.partition("/")
    if not name:
        raise InvalidParameter(f"reference must be 'dataset:NAME[/VERSION]'. Got {spec!r} instead.",
                               field="reference")
    if not version:
        return name, None
    try:
        return name, int(version)
    except ValueError:
        raise InvalidParameter(
            f"reference must be 'dataset:NAME[/VERSION]' with a whole version number. Got {spec!r} "
            "instead.", field="reference") from None
