"""The PyTorch MLP of ``bench/batching.py`` (the pytorch flavor saves a module's class by its
import path, so the server imports it from here: the bench puts ``bench/`` on its path)."""

from __future__ import annotations

from typing import Any

import torch


class MLP(torch.nn.Module):
    """``n_in`` inputs, ``layers`` hidden layers of ``hidden`` units with ReLU, one output."""

    def __init__(self, n_in: int = 30, hidden: int = 512, layers: int = 4) -> None:
        super().__init__()
        parts: list[torch.nn.Module] = []
        width = n_in
        for _ in range(layers):
            parts += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
            width = hidden
        parts.append(torch.nn.Linear(width, 1))
        self.layers = torch.nn.Sequential(*parts)

    def forward(self, x: Any) -> Any:
        return self.layers(x)
