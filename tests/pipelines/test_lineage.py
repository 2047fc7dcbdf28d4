"""Lineage: which step of which pipeline run made a model or dataset version, the steps that
fed it and the data they read; and from a dataset version, the steps that read it."""

from __future__ import annotations

import pandas as pd

import modelyard as my

from .conftest import Project

FLOW = '''
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import modelyard as my


    @my.step(dataset="clean_rows")
    def clean(raw) -> pd.DataFrame:
        return raw.to_pandas().dropna()


    @my.step(model="parity")
    def fit(df: pd.DataFrame) -> LogisticRegression:
        return LogisticRegression().fit(df[["x"]], df["y"])


    @my.pipeline
    def lined(raw):
        return fit(clean(raw))
'''


def test_lineage_names_the_steps_that_made_and_read_each_version(local_yard: my.Yard,
                                                                project: Project) -> None:
    raw = local_yard.datasets.add("raw_rows", pd.DataFrame(
        {"x": [float(i) for i in range(30)], "y": [i % 2 for i in range(30)]}))
    project.write("lined", FLOW)
    run = local_yard.pipelines.run(project.module("lined").lined, raw=raw)
    model = local_yard.lineage("parity/1")
    fit, clean = f"step:{run.id}/fit", f"step:{run.id}/clean"
    edges = {(e.source, e.target, e.relation) for e in model.edges}
    assert (fit, "model:parity/1", "produced") in edges
    assert (clean, fit, "feeds") in edges
    assert ("dataset:raw_rows/1", clean, "read_by") in edges
    assert model.node(fit).attrs["run_id"] == run.id
    assert "pipeline step lined.fit" in model.to_text()

    data = local_yard.lineage("dataset:raw_rows/1")
    edges = {(e.source, e.target, e.relation) for e in data.edges}
    assert ("dataset:raw_rows/1", clean, "read_by") in edges
    assert (clean, "dataset:clean_rows/1", "produced") in edges
    assert (fit, "model:parity/1", "produced") in edges

    made = local_yard.lineage("dataset:clean_rows/1")
    assert (clean, "dataset:clean_rows/1", "produced") in {
        (e.source, e.target, e.relation) for e in made.edges}

    whole = local_yard.lineage(f"pipeline:{run.id}")
    assert {n.id for n in whole.nodes} >= {f"pipeline:{run.id}", fit, clean,
                                            "dataset:raw_rows/1", "model:parity/1"}
    assert "pipeline run" in whole.to_text()
