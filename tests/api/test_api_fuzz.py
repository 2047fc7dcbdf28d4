"""Never a 500 for bad input: schemathesis drives every route of the OpenAPI spec.

Bounded and deterministic: a few examples per operation, a fixed derandomized seed. Positive
cases (valid by the spec) must answer as the spec says; for negative cases (invalid by the spec)
the server must not fail. Every error is our JSON shape. Both run on SQLite and PostgreSQL
(their limits differ: 32-bit integer columns …).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import modelyard as my
from modelyard.api.app import create_app

EXAMPLES = 4


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer with a body is our JSON error (not HTML, not FastAPI's "detail")."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"the error is not JSON: {response.text[:300]!r}") from None
    assert isinstance(body, dict) and isinstance(body.get("error"), str), response.text[:300]
    if response.status_code < 500:
        assert isinstance(body.get("message"), str) and "field" in body, response.text[:300]
    return None


CHECKS: dict[GenerationMode, list[Any]] = {
    GenerationMode.POSITIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        error_shape,
    ],
    # Not "negative_data_rejection": a query string has no types, and some parameters are
    # deliberately lenient (a datetime also accepts epoch seconds, as clock.parse_time does).
    GenerationMode.NEGATIVE: [not_a_server_error, error_shape],
}


def _has_inputs_to_negate(operation: Any) -> bool:
    # A string path parameter has no wrong type that survives a URL, so negative generation
    # for path-only operations spends its time in filters; their bad values are covered by
    # the positive run (any string) already.
    definition = operation.definition.raw
    params = definition.get("parameters", [])
    return "requestBody" in definition or any(p.get("in") == "query" for p in params)


def _fuzz(app: Any, mode: GenerationMode) -> list[str]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not _has_inputs_to_negate(operation):
            continue

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            try:
                case.call_and_validate(checks=CHECKS[mode])
            except FailureGroup as exc:
                failures.append(f"{case.operation.label}: {str(exc)[:1500]}")

        try:
            check()
        except Unsatisfiable:
            pass  # nothing of this mode can be generated for the operation
    return failures


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_route_answers_bad_and_odd_input_without_a_server_error(
    yard: my.Yard, mode: GenerationMode
) -> None:
    failures = _fuzz(create_app(yard), mode)
    assert not failures, "\n\n".join(failures[:5])


def test_the_fuzzer_does_find_a_server_error(toy_app: Any) -> None:
    failures = _fuzz(toy_app, GenerationMode.POSITIVE)
    assert [f for f in failures if f.startswith("GET /api/v1/boom")]
