"""Importable model classes for the pyfunc and pytorch flavors (saved by reference, so they
must live in a module, not in a test function)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class ThresholdModel:
    """A pyfunc model with a to_config()/from_config() pair."""

    def __init__(self, column: str, threshold: float) -> None:
        self.column = column
        self.threshold = threshold

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (df[self.column].to_numpy() > self.threshold).astype(np.int64)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(df[self.column].to_numpy() - self.threshold)))
        return np.column_stack([1.0 - p, p])

    def to_config(self) -> dict[str, Any]:
        return {"column": self.column, "threshold": self.threshold}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ThresholdModel:
        return cls(**config)


class LinearModel:
    """A pyfunc model saved through its JSON-serialisable __dict__."""

    def __init__(self, weights: dict[str, float], bias: float) -> None:
        self.weights = weights
        self.bias = bias

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        out = np.full(len(df), self.bias)
        for column, weight in self.weights.items():
            out = out + weight * df[column].to_numpy(dtype=np.float64)
        return out


class OpaqueModel:
    """A pyfunc model whose state is not JSON."""

    def __init__(self) -> None:
        self.lookup = {1: object()}

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(df))


def log1p_columns(x: Any) -> Any:
    """A function of our own module: skops must not trust it."""
    return np.log1p(np.abs(x))


try:
    import torch
except ImportError:  # the pytorch flavor is an optional extra
    torch = None  # type: ignore[assignment]

if torch is not None:

    class TinyNet(torch.nn.Module):
        def __init__(self, n_in: int, hidden: int = 8) -> None:
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
            )

        def forward(self, x: Any) -> Any:
            return self.layers(x)
