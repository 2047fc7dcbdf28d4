"""Runs: independent steps at the same time, a failure stops only its dependants and keeps
what completed, resume goes on from there; outputs of every kind come back as they were."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import modelyard as my
from modelyard.errors import StepFailed

from .conftest import Project

PARALLEL = '''
import threading

import modelyard as my

BARRIER = threading.Barrier(2, timeout=60)


@my.step
def left() -> int:
    BARRIER.wait()  # returns only when the other step is running too
    return 1


@my.step
def right() -> int:
    BARRIER.wait()
    return 2


@my.step
def both(a: int, b: int) -> int:
    return a + b


@my.pipeline
def wide():
    return both(left(), right())
'''

FAILING = '''
import modelyard as my

from .flow import mark

BROKEN = True


@my.step
def first() -> int:
    mark("first")
    return 1


@my.step
def fragile(x: int) -> int:
    mark("fragile")
    if BROKEN:
        raise ZeroDivisionError("the data had no rows")
    return x + 1


@my.step
def after(x: int) -> int:
    mark("after")
    return x * 10


@my.step
def aside(x: int) -> int:
    mark("aside")
    return x - 1


@my.pipeline
def chain():
    a = first()
    aside(a)
    return after(fragile(a))
'''


def test_independent_steps_run_at_the_same_time(local_yard: my.Yard,
                                                project: Project) -> None:
    project.write("wide", PARALLEL)
    run = local_yard.pipelines.run(project.module("wide").wide)
    assert run.status == "succeeded" and run.output("both") == 3


def test_a_failure_skips_dependants_keeps_outputs_and_resume_goes_on(
        local_yard: my.Yard, project: Project) -> None:
    project.flow()
    project.write("failing", FAILING)
    failing = project.module("failing")
    with pytest.raises(StepFailed, match=r"step 'fragile' failed: ZeroDivisionError: the data "
                                         r"had no rows .*resume"):
        local_yard.pipelines.run(failing.chain)
    assert project.calls() == ["aside", "first", "fragile"]
    run = local_yard.pipelines.runs()[0]
    assert run.status == "failed"
    assert {s.step: s.status for s in run.steps} == {
        "first": "succeeded", "aside": "succeeded", "fragile": "failed", "after": "skipped"}
    assert "ZeroDivisionError" in (run.step("fragile").error or "")
    assert run.output("first") == 1

    project.write("failing", FAILING.replace("BROKEN = True", "BROKEN = False"))
    resumed = local_yard.pipelines.resume(run.id)
    assert project.calls() == ["after", "fragile"]  # what completed is not run again
    assert resumed.id == run.id and resumed.status == "succeeded" and resumed.attempt == 2
    assert resumed.output("after") == 20


def test_outputs_of_every_kind_come_back_as_they_were(local_yard: my.Yard,
                                                      project: Project) -> None:
    project.write("kinds", '''
        import numpy as np
        import pandas as pd
        import polars as pl

        import modelyard as my


        @my.step(outputs=("frame", "array", "value", "pl"))
        def make():
            frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]},
                                 index=pd.Index([10, 20, 30], name="id"))
            return (frame, np.arange(6, dtype=np.float32).reshape(2, 3),
                    {"n": 3, "names": ["a", "b"], "ratio": 0.5},
                    pl.DataFrame({"c": [1.5, 2.5]}))


        @my.step
        def pair() -> tuple:
            return (1, "two")


        @my.pipeline
        def kinds():
            make()
            pair()
    ''')
    run = local_yard.pipelines.run(project.module("kinds").kinds)
    again = local_yard.pipelines.get(run.id)
    frame = again.output("make", "frame")
    pd.testing.assert_frame_equal(frame, pd.DataFrame(
        {"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=pd.Index([10, 20, 30], name="id")))
    array = again.output("make", "array")
    assert array.dtype == np.float32 and array.shape == (2, 3)
    assert again.output("make", "value") == {"n": 3, "names": ["a", "b"], "ratio": 0.5}
    assert again.output("make", "pl")["c"].to_list() == [1.5, 2.5]
    assert again.output("pair") == (1, "two")
    kinds = {name: ref.kind for name, ref in again.step("make").outputs.items()}
    assert kinds == {"frame": "frame", "array": "array", "value": "json", "pl": "polars"}


def test_a_model_output_is_saved_by_its_flavor_and_published(local_yard: my.Yard,
                                                             project: Project) -> None:
    project.write("publish", '''
        import pandas as pd
        from sklearn.linear_model import LogisticRegression

        import modelyard as my


        @my.step(dataset="training_rows")
        def rows(n: int) -> pd.DataFrame:
            return pd.DataFrame({"x": [float(i) for i in range(n)], "y": [i % 2 for i in range(n)]})


        @my.step(model="parity")
        def fit(df: pd.DataFrame) -> LogisticRegression:
            return LogisticRegression().fit(df[["x"]], df["y"])


        @my.pipeline
        def publish(n: int = 20):
            return fit(rows(n))
    ''')
    run = local_yard.pipelines.run(project.module("publish").publish)
    fit = run.step("fit").outputs["output"]
    assert fit.kind == "model" and fit.ref == "model:parity/1"
    mv = local_yard.models.get("parity/1")
    assert mv.tags["modelyard.pipeline.run"] == run.id and mv.flavor == "sklearn"
    assert run.step("rows").outputs["output"].ref == "dataset:training_rows/1"
    model = run.output("fit")
    assert model.predict(pd.DataFrame({"x": [3.0]})).shape == (1,)
    assert local_yard.models.load("parity/1").predict(pd.DataFrame({"x": [3.0]})).shape == (1,)
    again = local_yard.pipelines.run(project.module("publish").publish)
    assert again.step("fit").status == "cached"
    assert len(local_yard.models.versions("parity")) == 1  # a hit registers nothing new
