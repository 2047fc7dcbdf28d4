"""Monitoring: data and prediction drift, data quality, outliers, performance from ground
truth (and estimated before it), alerts and reports.

    import modelyard as my
    report = my.drift(reference_df, current_df)            # modelyard.monitoring.drift
    yard.monitoring.run("loans", window="1h")              # modelyard.monitoring.monitors
    yard.feedback(prediction_id, label)

Modules: ``stats`` (the tests, on numpy arrays), ``columns`` (column summaries and streaming
sketches), ``drift`` (``drift``, ``DriftDetector``), ``quality``, ``outliers``,
``performance`` (metrics, CBPE), ``alerts`` (rules, webhooks), ``store`` (``MonitorStore``),
``monitors`` (``Monitoring``), ``report`` (HTML), ``entities``. The function ``drift`` is
reached as ``modelyard.drift`` (here ``drift`` names its module).
"""

from __future__ import annotations

from .drift import DriftDetector
from .entities import (
    Alert,
    AlertRule,
    DriftReport,
    FeatureDrift,
    Finding,
    GroupResult,
    MonitorResult,
)

__all__ = [
    "Alert",
    "AlertRule",
    "DriftDetector",
    "DriftReport",
    "FeatureDrift",
    "Finding",
    "GroupResult",
    "MonitorResult",
]
