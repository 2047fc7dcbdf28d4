"""Bad input is a clear error naming the step (or parameter), before anything runs where it
can be known before: a cycle, an output that cannot be stored, a mistyped parameter, an import
error, a step returning another type than it declares."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import modelyard as my
from modelyard.errors import InvalidParameter, StepFailed

from .conftest import Project


def _runs(yard: my.Yard) -> int:
    return len(yard.pipelines.runs())


def test_a_cycle_is_refused_naming_its_steps(local_yard: my.Yard) -> None:
    @my.step
    def a(c: int) -> int:
        return c

    @my.step
    def b(a: int) -> int:
        return a

    @my.step
    def c(b: int) -> int:
        return b

    cyclic = my.pipeline(a, b, c, name="cyclic")
    with pytest.raises(InvalidParameter, match=r"pipeline 'cyclic' has a cycle: steps 'a' -> "
                                                r"'b' -> 'c' -> 'a'|'c' -> 'b' -> 'a' -> 'c'"):
        local_yard.pipelines.run(cyclic)
    assert _runs(local_yard) == 0


def test_wired_steps_take_each_others_outputs_by_name(local_yard: my.Yard) -> None:
    @my.step
    def base(n: int) -> int:
        return n

    @my.step
    def double(base: int) -> int:
        return base * 2

    wired = my.pipeline(base, double, name="wired")
    run = local_yard.pipelines.run(wired, n=21)
    assert run.output("double") == 42


def test_an_output_type_that_cannot_be_stored_is_refused_before_running(
        local_yard: my.Yard) -> None:
    @my.step
    def stream() -> Iterator[int]:
        raise AssertionError("must not run")

    @my.pipeline
    def streaming():
        stream()

    with pytest.raises(InvalidParameter, match=r"step 'stream' declares it returns "
                                                r"Iterator\[int\], which modelyard cannot store"):
        local_yard.pipelines.run(streaming)
    assert _runs(local_yard) == 0


def test_an_unstorable_value_fails_its_step_naming_it(local_yard: my.Yard,
                                                      project: Project) -> None:
    project.write("unstorable", '''
        import modelyard as my


        @my.step
        def handle():
            return open(__file__)


        @my.pipeline
        def unstorable():
            handle()
    ''')
    with pytest.raises(StepFailed, match=r"step 'handle' returned a value that cannot be "
                                         r"stored: a _io.TextIOWrapper cannot be stored"):
        local_yard.pipelines.run(project.module("unstorable").unstorable)


def test_a_parameter_of_the_wrong_type_is_refused_before_running(local_yard: my.Yard,
                                                                 project: Project) -> None:
    flow = project.flow()
    with pytest.raises(InvalidParameter, match=r"parameter 'factor' of pipeline 'flow' must be "
                                                r"float. Got 'big' \(str\) instead."):
        local_yard.pipelines.run(flow.flow, factor="big")
    with pytest.raises(InvalidParameter, match=r"pipeline 'flow' has no parameter 'factr'.*"
                                                r"Did you mean 'factor'\?"):
        local_yard.pipelines.run(flow.flow, factr=2.0)
    assert _runs(local_yard) == 0 and project.calls() == []


def test_a_step_argument_of_the_wrong_type_is_refused_before_running(
        local_yard: my.Yard) -> None:
    @my.step
    def take(k: int) -> int:
        return k

    @my.pipeline
    def typed():
        take("three")

    with pytest.raises(InvalidParameter, match=r"argument 'k' of step 'take' must be int. Got "
                                                r"'three' \(str\) instead."):
        local_yard.pipelines.run(typed)


def test_a_step_fed_an_output_of_another_declared_type_is_refused(local_yard: my.Yard) -> None:
    @my.step
    def count() -> int:
        return 1

    @my.step
    def frame_only(df: pd.DataFrame) -> int:
        return len(df)

    @my.pipeline
    def mismatched():
        frame_only(count())

    with pytest.raises(InvalidParameter, match=r"step 'frame_only' takes 'df' as "
                                                r"pandas.DataFrame, but step 'count' declares it "
                                                r"returns int"):
        local_yard.pipelines.run(mismatched)


def test_an_import_error_names_the_pipeline(local_yard: my.Yard, project: Project) -> None:
    project.write("broken", "import no_such_module_here\n")
    with pytest.raises(InvalidParameter, match=r"pipeline module '.*broken' cannot be imported: "
                                                r"No module named 'no_such_module_here'"):
        local_yard.pipelines.run(f"{project.name}.broken:flow")
    with pytest.raises(InvalidParameter, match=r"must name a pipeline made with @my.pipeline"):
        local_yard.pipelines.run(f"{project.name}.helpers:scale")


def test_a_step_returning_another_type_than_declared_fails_naming_it(
        local_yard: my.Yard) -> None:
    @my.step
    def liar() -> pd.DataFrame:
        return [1, 2, 3]  # type: ignore[return-value]

    @my.step
    def later(df: pd.DataFrame) -> int:
        raise AssertionError("must not run")

    @my.pipeline
    def lying():
        later(liar())

    with pytest.raises(StepFailed, match=r"step 'liar' must return pandas.DataFrame \(its "
                                         r"declared return type\). Got list instead."):
        local_yard.pipelines.run(lying)
    run = local_yard.pipelines.runs()[0]
    assert run.step("later").status == "skipped"


def test_using_an_output_in_the_pipeline_function_is_explained(local_yard: my.Yard) -> None:
    @my.step
    def n() -> int:
        return 1

    @my.pipeline
    def branching():
        if n() > 0:
            n()

    with pytest.raises(InvalidParameter, match=r"the output of step 'n' is not known while the "
                                                r"pipeline's graph is built"):
        local_yard.pipelines.run(branching)
