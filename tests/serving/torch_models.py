"""An importable PyTorch module for the serving tests (the pytorch flavor saves a module's
class by reference, so it must live in a module)."""

from __future__ import annotations

from typing import Any

import torch


class IrisNet(torch.nn.Module):
    """Four inputs to ``n_out`` scores."""

    def __init__(self, hidden: int = 16, n_out: int = 1) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(),
                                          torch.nn.Linear(hidden, n_out))

    def forward(self, x: Any) -> Any:
        return self.layers(x)
