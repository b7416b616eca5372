"""Saving a module with its LoRA adapter beside it, and re-attaching saved adapters on load.

A saved bundle (:class:`~common.models.vlm_bundle.VLMBundle` or
:class:`~common.models.t2i.bundle.T2IBundle`) keeps its base weights in the libraries' normal
format and each LoRA adapter under ``adapters/<component>`` (:data:`ADAPTERS_DIR`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from common.models.hub import looks_local
from common.models.lora import has_lora, load_lora, lora_removed, save_lora

ADAPTERS_DIR = "adapters"
"""Sub-folder of a saved bundle holding LoRA adapters, one folder per component (``model`` for a
VLM). The base weights are saved without LoRA in the libraries' normal format beside it."""


def save_module(module: Any, path: Path, adapter_dir: Path) -> None:
    """``module.save_pretrained(path)``; a LoRA adapter, if injected, goes to ``adapter_dir``."""
    if isinstance(module, torch.nn.Module) and has_lora(module):
        with lora_removed(module):
            module.save_pretrained(path)
        save_lora(module, adapter_dir)
    else:
        module.save_pretrained(path)


def attach_saved_adapters(modules: dict[str, Any], root: str) -> None:
    """Re-inject adapters saved by :func:`save_module` under ``root/adapters`` (local dirs only)."""
    if not looks_local(root):
        return
    base = Path(root).expanduser() / ADAPTERS_DIR
    for name, module in modules.items():
        if (base / name / "adapter_config.json").is_file():
            load_lora(module, base / name)
