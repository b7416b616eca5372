"""The model inside the wrappers training puts around it (DDP, DeepSpeed, peft)."""

from __future__ import annotations

from typing import Any

import torch


def unwrap_model(model: Any) -> Any:
    """The underlying transformers model of a DDP / DeepSpeed / peft wrapper."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model
