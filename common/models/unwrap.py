"""The transformers model under every wrapper training puts around it.

:func:`common.engine.unwrap_model` removes the engine's wrappers (Fabric, DeepSpeed, DDP) and keeps
a peft ``PeftModel``, which training and checkpoints need; sampling and the image-token
helpers need the transformers model itself (its ``config``, its embedding layers), so
:func:`transformers_model` also takes the model out of peft's LoRA wrapper.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from common.engine import unwrap_model

__all__ = ["transformers_model"]


def transformers_model(model: Any) -> nn.Module:
    """``model`` without the Fabric / DeepSpeed / DDP wrappers and without peft's ``PeftModel``."""
    core = unwrap_model(model)
    get_base_model = getattr(core, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else core
