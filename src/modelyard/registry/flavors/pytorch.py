"""PyTorch modules (optional extra ``modelyard[torch]``), saved as weights only.

A version holds the module's ``state_dict`` (``torch.save``), the import path of its class
(``package.module:Class``) and the JSON constructor arguments given at registration
(``init_kwargs=``); loading imports the class, builds it and loads the weights with
``torch.load(weights_only=True)``, so no pickled code is ever run. ``predict`` runs the module
in eval mode, without gradients, on one float32 tensor of the frame's columns, on the CPU or
on the device the predictor was moved to (``to_device("cuda")``: the model server's
``device:`` setting).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import InvalidParameter
from .base import Predictor, class_path, copy_source, import_class, require

__all__ = ["PyTorchFlavor", "flavor"]

FILE = "weights.pt"


def _torch() -> Any:
    return require("torch", "torch")


class _TorchPredictor:
    def __init__(self, module: Any) -> None:
        self.model = module
        self.device = "cpu"

    def to_device(self, device: str) -> None:
        """Move the module to ``device`` (``cuda``, ``cuda:1`` …); inputs follow it."""
        torch = _torch()
        self.model.to(torch.device(device))
        self.device = device

    def predict(self, df: pd.DataFrame | np.ndarray) -> Any:
        torch = _torch()
        x = torch.from_numpy(np.asarray(df, dtype=np.float32))
        if self.device != "cpu":
            x = x.to(self.device, non_blocking=True)
        with torch.no_grad():
            out = self.model(x)
        out = out.detach().cpu().numpy()
        return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out


class PyTorchFlavor:
    name = "pytorch"
    libraries = ("torch",)

    def detect(self, model: Any) -> bool:
        import sys

        if "torch" not in sys.modules:  # a torch module means torch is imported already
            return False
        torch = sys.modules["torch"]
        return isinstance(model, torch.nn.Module)

    def save(self, model: Any, path: Path, example: pd.DataFrame | None,
             init_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        torch = _torch()
        if not isinstance(model, torch.nn.Module):
            raise InvalidParameter(
                f"The pytorch flavor saves torch.nn.Module objects. Got "
                f"{type(model).__module__}.{type(model).__qualname__}.", field="model")
        init_kwargs = dict(init_kwargs or {})
        try:
            json.dumps(init_kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(
                f"init_kwargs must be JSON-serialisable (numbers, strings, lists, dicts): they "
                f"rebuild the module at load time. Got {init_kwargs!r} ({exc}).",
                field="init_kwargs") from exc
        cls_path = class_path(model)
        try:  # the weights must fit a module built from init_kwargs alone
            import_class(cls_path)(**init_kwargs).load_state_dict(model.state_dict())
        except (TypeError, RuntimeError) as exc:
            raise InvalidParameter(
                f"{cls_path}(**init_kwargs) does not rebuild this module ({exc}). Pass the "
                "constructor arguments as init_kwargs=.", field="init_kwargs") from exc
        torch.save(model.state_dict(), path / FILE)
        return {"file": FILE, "class": cls_path, "init_kwargs": init_kwargs,
                **copy_source(type(model), path)}

    def load(self, path: Path, options: dict[str, Any]) -> Predictor:
        torch = _torch()
        cls = import_class(options["class"], base=torch.nn.Module)
        module = cls(**options.get("init_kwargs", {}))
        state = torch.load(path / options.get("file", FILE), weights_only=True,
                           map_location="cpu")
        module.load_state_dict(state)
        module.eval()
        return _TorchPredictor(module)


flavor = PyTorchFlavor()
