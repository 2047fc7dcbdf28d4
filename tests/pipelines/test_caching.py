"""Only what changed runs again: inputs, parameters, the step's code, the project code it
calls (transitively) and library versions make the key; every miss says why."""

from __future__ import annotations

from typing import Any

import pytest

import modelyard as my

from .conftest import FLOW, HELPERS, Project

ALL = ["evaluate", "features", "load", "stats", "train"]


def _status(run: Any) -> dict[str, str]:
    return {s.step: s.status for s in run.steps}


def test_a_second_run_reuses_every_output_and_runs_nothing(yard: my.Yard,
                                                           project: Project) -> None:
    flow = project.flow()
    first = yard.pipelines.run(flow.flow)
    assert project.calls() == ALL
    assert set(_status(first).values()) == {"succeeded"}
    assert all(s.reasons == ["no earlier completed run of step " + repr(s.step)]
               for s in first.steps)
    second = yard.pipelines.run(flow.flow)
    assert project.calls() == []
    assert set(_status(second).values()) == {"cached"}
    for step in second.steps:
        assert step.cached_from == f"{first.id}/{step.step}"
        assert step.outputs == first.step(step.step).outputs
    assert second.output("evaluate") == first.output("evaluate")


def test_a_parameter_change_reruns_its_step_and_dependants_and_says_so(
        local_yard: my.Yard, project: Project) -> None:
    flow = project.flow()
    local_yard.pipelines.run(flow.flow)
    project.calls()
    run = local_yard.pipelines.run(flow.flow, factor=3.0)
    assert project.calls() == ["evaluate", "features", "train"]
    assert _status(run) == {"load": "cached", "stats": "cached", "features": "succeeded",
                            "train": "succeeded", "evaluate": "succeeded"}
    assert run.step("features").reasons == ["parameter 'factor' changed: 2.0 -> 3.0"]
    assert run.step("train").reasons[0].startswith("input 'df' changed (from step 'features'")


def test_changing_one_step_reruns_it_and_its_dependants_only(local_yard: my.Yard,
                                                             project: Project) -> None:
    local_yard.pipelines.run(project.flow().flow)
    project.calls()
    project.write("flow", FLOW.format(log=str(project.log)).replace(
        "return df.assign(z=helpers.scale(df[\"x\"], factor))",
        "return df.assign(z=helpers.scale(df[\"x\"], factor) + 1.0)"))
    run = local_yard.pipelines.run(project.flow().flow)
    assert project.calls() == ["evaluate", "features", "train"]
    features = run.step("features")
    assert features.reasons == [f"function {project.name}.flow:features changed"]


def test_a_helper_change_reruns_exactly_the_steps_that_call_it(local_yard: my.Yard,
                                                               project: Project) -> None:
    local_yard.pipelines.run(project.flow().flow)
    project.calls()
    project.write("helpers", HELPERS.replace("return x * factor", "return x * factor * 2"))
    run = local_yard.pipelines.run(project.flow().flow)
    # features calls the helper; train and evaluate read its (now different) output
    assert project.calls() == ["evaluate", "features", "train"]
    assert run.step("features").reasons == [f"function {project.name}.helpers:scale changed"]
    assert _status(run)["load"] == _status(run)["stats"] == "cached"


def test_a_helper_change_that_keeps_the_output_stops_at_the_caller(local_yard: my.Yard,
                                                                   project: Project) -> None:
    local_yard.pipelines.run(project.flow().flow)
    project.calls()
    project.write("helpers", HELPERS.replace("return x * factor", "return factor * x"))
    run = local_yard.pipelines.run(project.flow().flow)
    assert project.calls() == ["features"]  # same output: train and evaluate are hits
    assert _status(run)["train"] == "cached"


def test_helpers_reached_through_other_helpers_imports_and_classes(local_yard: my.Yard,
                                                                   project: Project) -> None:
    project.write("deep", '''
        OFFSET = 1.0


        class Shift:
            def apply(self, x):
                return x + OFFSET
    ''')
    project.write("helpers", HELPERS.replace(
        "return x * factor", "from .deep import Shift\n    return Shift().apply(x) * factor"))
    local_yard.pipelines.run(project.flow().flow)
    project.calls()
    project.write("deep", '''
        OFFSET = 2.0


        class Shift:
            def apply(self, x):
                return x + OFFSET
    ''')
    project.module("deep")
    run = local_yard.pipelines.run(project.flow().flow)
    assert "features" in project.calls()
    assert run.step("features").reasons == [f"constant {project.name}.deep.OFFSET changed"]


def test_comments_docstrings_and_moved_lines_do_not_invalidate(local_yard: my.Yard,
                                                               project: Project) -> None:
    local_yard.pipelines.run(project.flow().flow)
    project.calls()
    moved = "\n\n# a comment\n\n" + HELPERS.replace(
        "def scale(x, factor):\n", 'def scale(x, factor):\n    """Scale x."""\n')
    project.write("helpers", moved)
    run = local_yard.pipelines.run(project.flow().flow)
    assert project.calls() == []
    assert set(_status(run).values()) == {"cached"}


def test_no_cache_and_cache_false_run_anyway_and_say_why(local_yard: my.Yard,
                                                         project: Project) -> None:
    flow = project.flow()
    local_yard.pipelines.run(flow.flow)
    project.calls()
    run = local_yard.pipelines.run(flow.flow, no_cache=True)
    assert project.calls() == ALL
    assert run.step("load").reasons == ["the cache is off for this run (--no-cache)"]
    project.write("flow", FLOW.format(log=str(project.log)).replace(
        "@my.step\ndef stats", "@my.step(cache=False)\ndef stats"))
    run = local_yard.pipelines.run(project.flow().flow)
    assert project.calls() == ["stats"]
    assert run.step("stats").reasons == ["step 'stats' is declared with cache=False"]


def test_a_value_without_a_digest_is_never_cached(local_yard: my.Yard,
                                                  project: Project) -> None:
    project.write("odd", '''
        import modelyard as my

        from .flow import mark


        class Opaque:
            __slots__ = ("v",)

            def __init__(self, v):
                self.v = v


        @my.step
        def use(thing) -> int:
            mark("use")
            return 1


        @my.pipeline
        def odd(v: int = 1):
            return use(Opaque(v))
    ''')
    project.flow()
    odd = project.module("odd")
    local_yard.pipelines.run(odd.odd, v=1)
    run = local_yard.pipelines.run(odd.odd, v=2)
    assert project.calls() == ["use", "use"]  # no placeholder key: two different values
    reason = run.step("use").reasons[0]
    assert reason.startswith("not cacheable: argument 'thing'") and "Opaque" in reason


def test_a_library_version_change_is_a_reason(local_yard: my.Yard, project: Project) -> None:
    flow = project.flow()
    first = local_yard.pipelines.run(flow.flow)
    components = first.step("load").components
    assert components["libraries"]["numpy"] and components["libraries"]["python"]
    from modelyard.pipelines.cache import miss_reasons

    older = {**components, "libraries": {**components["libraries"], "numpy": "1.0.0"}}
    assert miss_reasons(components, older, step="load", disabled=None, problems=[]) == [
        f"library numpy 1.0.0 -> {components['libraries']['numpy']}"]


@pytest.mark.parametrize("factor", [2.0, 2])
def test_int_and_float_parameters_of_equal_value_differ(local_yard: my.Yard, project: Project,
                                                        factor: float) -> None:
    flow = project.flow()
    run = local_yard.pipelines.run(flow.flow, factor=factor)
    assert run.step("features").components["params"]["factor"]["value"] == repr(factor)
