"""Pipelines: steps that re-run only what changed, with lineage, on the executors.

    import modelyard as my

    @my.step
    def clean(raw: pd.DataFrame) -> pd.DataFrame: ...

    @my.pipeline
    def loans(path: str = "loans.csv"):
        return train(clean(load(path)))

    yard.pipelines.run(loans)          # modelyard pipelines run mypkg.flows:loans

See :mod:`.graph` (steps and pipelines), :mod:`.fingerprint` and :mod:`.cache` (the cache key
and why a step missed), :mod:`.outputs` (how outputs are stored), :mod:`.runner` (execution)
and :mod:`.pipelines` (``yard.pipelines``).
"""

from __future__ import annotations

from .graph import Pipeline, Step, pipeline, step

__all__ = ["Pipeline", "Step", "pipeline", "step"]
