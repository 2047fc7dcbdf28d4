"""The fuzzed servers run over the hostile tests' yard (``hostile/conftest.py``)."""

from hostile.conftest import hostile_yard  # the fixture, shared

__all__ = ["hostile_yard"]
