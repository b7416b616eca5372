"""LoRA through peft, for both model families, injected in place.

Adapters are added with the libraries' own ``add_adapter`` (diffusers ``ModelMixin`` and
transformers ``PreTrainedModel`` both provide it), so the model keeps its class, ``generate``,
``save_pretrained`` and the bundles work unchanged, and trainers never branch on a wrapper.
The reference policy of RL is the same module with adapters disabled (:func:`adapters_disabled`).

FIRM's settings for the image transformers (from its public training code): r=32, alpha=64,
gaussian init, targets the attention projections q/k/v/out of the image stream and the
``add_*`` projections of the text stream (:data:`IMAGE_TRANSFORMER_TARGETS`). With gaussian init
``lora_B`` starts at zero, so a fresh adapter leaves the model's output unchanged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

IMAGE_TRANSFORMER_TARGETS: tuple[str, ...] = (
    "attn.to_q",
    "attn.to_k",
    "attn.to_v",
    "attn.to_out.0",
    "attn.add_q_proj",
    "attn.add_k_proj",
    "attn.add_v_proj",
    "attn.to_add_out",
)
"""Module-name suffixes of the joint-attention projections in ``SD3Transformer2DModel`` and
``QwenImageTransformer2DModel`` (the same names in both)."""

UNET_TARGETS: tuple[str, ...] = tuple(
    f"{attn}.{proj}" for attn in ("attn1", "attn2") for proj in ("to_q", "to_k", "to_v", "to_out.0")
)
"""Module-name suffixes of the self-attention (``attn1``) and prompt cross-attention (``attn2``)
projections in ``UNet2DConditionModel``'s transformer blocks (the flow UNets of the tiny scale)."""

VLM_ATTENTION_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
VLM_MLP_TARGETS: tuple[str, ...] = ("gate_proj", "up_proj", "down_proj")

DEFAULT_ADAPTER = "default"


@dataclass
class LoRASettings:
    """What to adapt and how (a config node of the same fields builds it).

    Attributes:
        r: rank.
        alpha: scaling numerator (scale = alpha / r).
        dropout: dropout on the LoRA input.
        init: peft ``init_lora_weights`` (``"gaussian"``, ``True`` = kaiming, ``"pissa"`` ...).
        targets: module-name suffixes to adapt; ``None`` = the family default
            (image transformers: :data:`IMAGE_TRANSFORMER_TARGETS`; VLMs: the language model's
            attention projections, plus its MLP when ``include_mlp``).
        include_mlp: VLM default targets include the MLP projections.
        adapt_vision: VLM default targets include the vision tower (off: only the LM is adapted).
        adapter_name: peft adapter name.
    """

    r: int = 32
    alpha: int = 64
    dropout: float = 0.0
    init: str | bool = "gaussian"
    targets: Sequence[str] | None = None
    include_mlp: bool = False
    adapt_vision: bool = False
    adapter_name: str = DEFAULT_ADAPTER
    extra: dict[str, Any] = field(default_factory=dict)


def _is_vlm(model: torch.nn.Module) -> bool:
    config = getattr(model, "config", None)
    return hasattr(config, "vision_config") and hasattr(config, "text_config")


def _target_regex(model: torch.nn.Module, settings: LoRASettings) -> str | list[str]:
    if settings.targets is not None:
        return list(settings.targets)
    if not _is_vlm(model):
        names = UNET_TARGETS if type(model).__name__ == "UNet2DConditionModel" else IMAGE_TRANSFORMER_TARGETS
        return r".*(" + "|".join(n.replace(".", r"\.") for n in names) + r")$"
    names = VLM_ATTENTION_TARGETS + (VLM_MLP_TARGETS if settings.include_mlp else ())
    scope = r".*" if settings.adapt_vision else r".*language_model\..*"
    return scope + r"\.(" + "|".join(names) + r")$"


def add_lora(model: torch.nn.Module, settings: LoRASettings | None = None, **kwargs: Any) -> torch.nn.Module:
    """Inject a LoRA adapter into ``model`` in place and make only LoRA parameters trainable.

    ``model`` is an image transformer or a VLM (the whole ``...ForConditionalGeneration``). The
    keyword arguments override fields of ``settings``. Returns ``model``.
    """
    from peft import LoraConfig

    settings = LoRASettings(**{**asdict(settings or LoRASettings()), **kwargs})
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        init_lora_weights=settings.init,
        target_modules=_target_regex(model, settings),
        **settings.extra,
    )
    model.add_adapter(config, adapter_name=settings.adapter_name)
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name)
    return model


def fold_lora(model: torch.nn.Module) -> torch.nn.Module:
    """Merge the active LoRA adapters of a diffusers model into its base weights and remove the
    adapter layers (diffusers' ``fuse_lora`` then ``unload_lora``), in place: a trained policy
    loaded as the start of another run becomes a plain model whose outputs are the adapted ones.
    A model without LoRA is returned unchanged."""
    if has_lora(model):
        model.fuse_lora(lora_scale=1.0)
        model.unload_lora()
    return model


def has_lora(model: torch.nn.Module) -> bool:
    """Whether ``model`` has LoRA layers injected."""
    return any("lora_" in name for name, _ in model.named_parameters())


def lora_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The LoRA parameters of ``model`` (what an optimiser of a LoRA run gets)."""
    return [p for name, p in model.named_parameters() if "lora_" in name]


def count_trainable(model: torch.nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (shared tensors counted once)."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def set_adapters_enabled(model: torch.nn.Module, enabled: bool) -> None:
    """Switch every LoRA layer of ``model`` on or off (the base weights are untouched)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.enable_adapters(enabled)


@contextlib.contextmanager
def adapters_disabled(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Within the block ``model`` computes the base model (the frozen reference policy)."""
    set_adapters_enabled(model, False)
    try:
        yield model
    finally:
        set_adapters_enabled(model, True)


def lora_state_dict(model: torch.nn.Module, adapter_name: str = DEFAULT_ADAPTER) -> dict[str, torch.Tensor]:
    """The adapter's weights (peft's key format, without the adapter name)."""
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(model, adapter_name=adapter_name)


def save_lora(model: torch.nn.Module, path: str | Path, adapter_name: str = DEFAULT_ADAPTER) -> None:
    """Write the adapter (``adapter_model.safetensors`` + ``adapter_config.json``) to ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in lora_state_dict(model, adapter_name).items()}
    save_file(state, str(path / "adapter_model.safetensors"))
    config = model.peft_config[adapter_name].to_dict()
    config = {k: (sorted(v) if isinstance(v, set) else v) for k, v in config.items()}
    (path / "adapter_config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")


def load_lora(
    model: torch.nn.Module, path: str | Path, adapter_name: str = DEFAULT_ADAPTER
) -> torch.nn.Module:
    """Load an adapter written by :func:`save_lora` into ``model`` (injecting it if needed)."""
    from peft import LoraConfig, set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(path)
    if not has_lora(model):
        data = json.loads((path / "adapter_config.json").read_text())
        fields = set(LoraConfig.__dataclass_fields__)
        config = LoraConfig(
            **{k: v for k, v in data.items() if k in fields and k not in ("peft_type", "task_type")}
        )
        model.add_adapter(config, adapter_name=adapter_name)
        for name, param in model.named_parameters():
            param.requires_grad_("lora_" in name)
    state = load_file(str(path / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, state, adapter_name=adapter_name)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise ValueError(f"adapter at {path} has weights the model lacks: {unexpected[:5]}")
    return model


@contextlib.contextmanager
def lora_removed(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Within the block ``model`` has its plain base layers (LoRA layers are swapped out).

    Used to save the base weights in the libraries' normal format: transformers'
    ``save_pretrained`` would otherwise write only the adapter, and diffusers' would write peft's
    ``base_layer`` key names. The adapter is saved beside it with :func:`save_lora`.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    swaps: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer) and name:
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            if getattr(parent, attr, None) is module:
                swaps.append((parent, attr, module))
    flag = getattr(model, "_hf_peft_config_loaded", None)
    for parent, attr, module in swaps:
        setattr(parent, attr, module.get_base_layer())
    if flag:
        model._hf_peft_config_loaded = False
    try:
        yield model
    finally:
        for parent, attr, module in swaps:
            setattr(parent, attr, module)
        if flag:
            model._hf_peft_config_loaded = flag
