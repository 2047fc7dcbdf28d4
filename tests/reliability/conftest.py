"""Fixtures of the reliability tests: the model servers' yard (``iris/1`` behind the alias
``production``, ``iris/2``) comes from the serving tests."""

from __future__ import annotations

from serving.conftest import iris, iris_rows, serving_yard  # noqa: F401 - fixtures

__all__ = ["iris_rows"]
